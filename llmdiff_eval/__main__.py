"""``python -m llmdiff_eval`` (also what ``torchrun -m llmdiff_eval`` runs)."""

from llmdiff_eval.cli import main

if __name__ == "__main__":
    main()
