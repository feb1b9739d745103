"""A local stand-in for the Hugging Face Hub endpoints that ``huggingface_hub`` 2.4 calls to create a repository,
commit files to it (``upload_folder``, ``ModelCard.push_to_hub``) and download them (``hf_hub_download``), for tests
run with ``HF_ENDPOINT=<its url>`` (and ``HF_HUB_DISABLE_XET=1``: the Xet transfer protocol needs Hugging Face's CAS
servers and is not reproduced here; the Git LFS "basic" transfer is).

One ``ThreadingHTTPServer`` on 127.0.0.1 (random port) in a daemon thread, holding repositories in memory:

* ``POST /api/repos/create`` ``{name, organization, visibility?, type?}`` → ``{url}``; 409 with ``{error, url}``
  when the repository exists (what the Hub answers);
* ``POST /api/validate-yaml`` ``{content, repoType}`` (no token needed) → 200 when the README front matter parses as a YAML mapping,
  400 otherwise;
* ``POST /api/models/<repo>/preupload/<rev>`` → per file ``uploadMode`` ``lfs`` for binary samples (a NUL byte) or
  files of 10 MB and more, else ``regular`` (the Hub's rule without ``.gitattributes``), ``shouldIgnore: false``,
  ``oid`` of the stored file at that path (or null);
* ``POST /<repo>.git/info/lfs/objects/batch`` → ``basic`` upload actions to ``PUT /lfs/<oid>`` (content checked
  against its sha256 and size) and a ``verify`` action (``POST /lfs/<oid>/verify``);
* ``POST /api/models/<repo>/commit/<rev>`` (NDJSON: ``header``, ``file`` with base64 content, ``lfsFile`` naming an
  uploaded object) → ``{commitUrl, commitOid}``;
* ``GET /api/agent-harnesses`` (no token needed) → an empty registry;
* ``GET /api/models/<repo>`` → ``{id, sha, siblings}``; ``HEAD`` / ``GET /<repo>/resolve/<rev>/<path>`` → the file
  with ``X-Repo-Commit``, ``ETag`` and, for LFS files, ``X-Linked-Etag`` / ``X-Linked-Size``; a ``Range: bytes=``
  request gets 206 and that slice;
* dataset repositories (stored as ``repos["datasets/<org>/<name>"]``), what ``datasets.load_dataset(id,
  streaming=True)`` reads: ``GET /api/datasets/<repo>[/revision/<rev>]`` → ``{id, sha, siblings}``,
  ``GET /api/datasets/<repo>/tree/<rev>[/<path>]`` → the files (with ``lfs`` oid, size and ``pointerSize``) and
  directories under that path, ``POST /api/datasets/<repo>/paths-info/<rev>`` → the entries at the given paths, and
  ``/datasets/<repo>/resolve/<rev>/<path>`` as above.

Every other request must carry ``Authorization: Bearer <token>`` with the token the server was made with (else 401, as the
Hub answers a missing or wrong token). Each request is logged in :attr:`HubServer.requests` as ``(method, path,
authorized)``; the bodies are not kept.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml

LFS_MIN_BYTES = 10 * 1024 * 1024
EMPTY_AGENT_REGISTRY = {"standardEnvVars": [], "harnesses": {}}
"""``GET /api/agent-harnesses``: the registry ``huggingface_hub`` fetches to name AI agents in its user agent."""
PUBLIC = ("/api/agent-harnesses", "/api/validate-yaml")
"""Endpoints the Hub answers without a token (``ModelCard.validate`` sends none)."""


@dataclass
class Repo:
    """One repository: its files (path -> bytes), which of them are LFS, and its commits (newest last)."""

    files: dict[str, bytes] = field(default_factory=dict)
    lfs: set[str] = field(default_factory=set)
    commits: list[str] = field(default_factory=list)
    private: bool = False

    @property
    def sha(self) -> str:
        return self.commits[-1] if self.commits else "0" * 40


class HubServer:
    """The stand-in Hub (module docstring). ``with HubServer(token) as hub: ... hub.url ... hub.repos[...]``."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.repos: dict[str, Repo] = {}
        self.objects: dict[str, bytes] = {}
        self.requests: list[tuple[str, str, bool]] = []
        self.lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> HubServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"


def _handler_for(hub: HubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # keep test output quiet
            pass

        # -- plumbing -----------------------------------------------------------------------------------------
        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, status: int, obj: Any) -> None:
            headers = {"Content-Type": "application/json"}
            if status >= 400 and isinstance(obj, dict) and "error" in obj:
                headers["X-Error-Message"] = obj["error"]
            self._send(status, json.dumps(obj).encode(), headers)

        def _authorized(self) -> bool:
            return self.headers.get("Authorization") == f"Bearer {hub.token}"

        def _start(self) -> tuple[str, bool]:
            """Log the request; answer 401 (and return False) when it needs the token and lacks it."""
            path = unquote(urlsplit(self.path).path)
            authorized = self._authorized()
            with hub.lock:
                hub.requests.append((self.command, path, authorized))
            if not authorized and path not in PUBLIC:
                self._body()
                self._json(401, {"error": "Invalid credentials in Authorization header"})
                return path, False
            return path, True

        def _repo(self, repo_id: str) -> Repo | None:
            repo = hub.repos.get(repo_id)
            if repo is None:
                self._json(404, {"error": "Repository not found"})  # sent; the caller returns
            return repo

        # -- methods ------------------------------------------------------------------------------------------
        def do_POST(self) -> None:  # noqa: N802 (http.server API)
            path, allowed = self._start()
            if not allowed:
                return
            body = self._body()
            if path == "/api/repos/create":
                return self._create(json.loads(body))
            if path == "/api/validate-yaml":
                return self._validate(json.loads(body))
            if path.startswith("/api/models/") and "/preupload/" in path:
                return self._preupload(path[len("/api/models/") :].split("/preupload/")[0], json.loads(body))
            if path.startswith("/api/models/") and "/commit/" in path:
                return self._commit(path[len("/api/models/") :].split("/commit/")[0], body)
            if path.startswith("/api/datasets/") and "/paths-info/" in path:
                return self._paths_info(path, body)
            if path.endswith(".git/info/lfs/objects/batch"):
                return self._lfs_batch(json.loads(body))
            if path.startswith("/lfs/") and path.endswith("/verify"):
                oid = path.split("/")[2]
                return self._json(200 if oid in hub.objects else 404, {})
            self._json(404, {"error": f"no such endpoint: POST {path}"})

        def do_PUT(self) -> None:  # noqa: N802
            path = unquote(urlsplit(self.path).path)
            body = self._body()
            with hub.lock:  # the LFS upload URL is pre-signed: no Authorization header, as on S3
                hub.requests.append(("PUT", path, self._authorized()))
            oid = path.split("/")[-1]
            if not path.startswith("/lfs/") or hashlib.sha256(body).hexdigest() != oid:
                return self._json(400, {"error": "content does not match its oid"})
            with hub.lock:
                hub.objects[oid] = body
            self._send(200)

        def do_GET(self) -> None:  # noqa: N802
            path, allowed = self._start()
            if not allowed:
                return
            if path == "/api/agent-harnesses":
                return self._json(200, EMPTY_AGENT_REGISTRY)
            if path.startswith("/api/datasets/") and "/tree/" in path:
                return self._tree(path)
            if path.startswith(("/api/models/", "/api/datasets/")):
                kind, _, repo_id = path[len("/api/") :].partition("/")
                repo_id = repo_id.split("/revision/")[0]
                repo = self._repo(repo_id if kind == "models" else f"datasets/{repo_id}")
                if repo is not None:
                    siblings = [
                        {"rfilename": name, "size": len(repo.files[name])} for name in sorted(repo.files)
                    ]
                    self._json(
                        200, {"id": repo_id, "sha": repo.sha, "private": repo.private, "siblings": siblings}
                    )
                return
            if "/resolve/" in path:
                return self._resolve(path)
            self._json(404, {"error": f"no such endpoint: GET {path}"})

        do_HEAD = do_GET  # noqa: N815

        # -- endpoints ----------------------------------------------------------------------------------------
        def _create(self, payload: dict[str, Any]) -> None:
            repo_id = "/".join(part for part in (payload.get("organization"), payload["name"]) if part)
            url = f"{hub.url}/{repo_id}"
            with hub.lock:
                if repo_id in hub.repos:
                    return self._json(409, {"error": "You already created this model repo", "url": url})
                hub.repos[repo_id] = Repo(private=payload.get("visibility") == "private")
            self._json(200, {"url": url, "name": repo_id})

        def _validate(self, payload: dict[str, Any]) -> None:
            content = payload.get("content", "")
            try:
                front = yaml.safe_load(content.split("---\n", 2)[1]) if content.startswith("---\n") else {}
            except yaml.YAMLError as error:
                return self._json(400, {"error": f"Invalid YAML: {error}"})
            self._json(
                200 if isinstance(front, dict) else 400,
                {} if isinstance(front, dict) else {"error": "no mapping"},
            )

        def _preupload(self, repo_id: str, payload: dict[str, Any]) -> None:
            repo = self._repo(repo_id)
            if repo is None:
                return
            files = []
            for item in payload["files"]:
                binary = b"\0" in base64.b64decode(item["sample"])
                stored = repo.files.get(item["path"])
                oid = None
                if stored is not None:
                    oid = hashlib.sha256(stored).hexdigest() if item["path"] in repo.lfs else _git_oid(stored)
                files.append({
                    "path": item["path"], "uploadMode": "lfs" if binary or item["size"] >= LFS_MIN_BYTES else "regular",
                    "shouldIgnore": False, "oid": oid,
                })  # fmt: skip
            self._json(200, {"files": files, "commitOid": repo.sha})

        def _lfs_batch(self, payload: dict[str, Any]) -> None:
            objects = []
            for item in payload["objects"]:
                oid = item["oid"]
                entry: dict[str, Any] = {"oid": oid, "size": item["size"], "authenticated": True}
                if oid not in hub.objects:
                    entry["actions"] = {
                        "upload": {"href": f"{hub.url}/lfs/{oid}", "header": {}},
                        "verify": {"href": f"{hub.url}/lfs/{oid}/verify", "header": {}},
                    }
                objects.append(entry)
            self._json(200, {"transfer": "basic", "objects": objects})

        def _commit(self, repo_id: str, body: bytes) -> None:
            repo = self._repo(repo_id)
            if repo is None:
                return
            lines = [json.loads(line) for line in body.splitlines() if line.strip()]
            if not lines or lines[0]["key"] != "header":
                return self._json(400, {"error": "the first line must be the commit header"})
            added: dict[str, tuple[bytes, bool]] = {}
            for line in lines[1:]:
                value = line["value"]
                if line["key"] == "file":
                    added[value["path"]] = (base64.b64decode(value["content"]), False)
                elif line["key"] == "lfsFile":
                    content = hub.objects.get(value["oid"])
                    if content is None or len(content) != value["size"]:
                        return self._json(400, {"error": f"LFS object {value['oid']} was not uploaded"})
                    added[value["path"]] = (content, True)
                else:
                    return self._json(400, {"error": f"unsupported operation {line['key']}"})
            with hub.lock:
                for path, (content, lfs) in added.items():
                    repo.files[path] = content
                    (repo.lfs.add if lfs else repo.lfs.discard)(path)
                sha = hashlib.sha1(
                    (repo.sha + lines[0]["value"]["summary"] + json.dumps(sorted(added))).encode()
                ).hexdigest()
                repo.commits.append(sha)
            self._json(200, {"commitUrl": f"{hub.url}/{repo_id}/commit/{sha}", "commitOid": sha})

        def _entries(self, repo: Repo, prefix: str) -> list[dict[str, Any]]:
            """Tree entries under ``prefix`` (files, and the directories on their paths), as the Hub lists them."""
            prefix = prefix.strip("/")
            entries: dict[str, dict[str, Any]] = {}
            for name, content in sorted(repo.files.items()):
                if prefix and not (name == prefix or name.startswith(prefix + "/")):
                    continue
                parts = name.split("/")
                for depth in range(1, len(parts)):
                    directory = "/".join(parts[:depth])
                    if len(directory) > len(prefix):
                        entries.setdefault(
                            directory, {"type": "directory", "path": directory, "oid": "0" * 40}
                        )
                entry = {"type": "file", "path": name, "size": len(content), "oid": _git_oid(content)}
                if name in repo.lfs:
                    entry["lfs"] = {
                        "oid": hashlib.sha256(content).hexdigest(),
                        "size": len(content),
                        "pointerSize": 134,
                    }
                entries[name] = entry
            return list(entries.values())

        def _tree(self, path: str) -> None:
            """``GET /api/datasets/<repo>/tree/<rev>[/<path>]`` (recursive listing; ``datasets`` globs with it)."""
            repo_id, rest = path[len("/api/datasets/") :].split("/tree/", 1)
            _, _, prefix = rest.partition("/")
            repo = self._repo(f"datasets/{repo_id}")
            if repo is not None:
                self._json(200, self._entries(repo, prefix))

        def _paths_info(self, path: str, body: bytes) -> None:
            """``POST /api/datasets/<repo>/paths-info/<rev>`` (form ``paths=...``): the entries at those paths."""
            from urllib.parse import parse_qs

            repo = self._repo("datasets/" + path[len("/api/datasets/") :].split("/paths-info/")[0])
            if repo is None:
                return
            wanted = parse_qs(body.decode()).get("paths", [])
            found = [entry for entry in self._entries(repo, "") if entry["path"] in wanted]
            if "" in wanted or "." in wanted:
                found.append({"type": "directory", "path": "", "oid": "0" * 40})
            self._json(200, found)

        def _resolve(self, path: str) -> None:
            repo_id, rest = path.lstrip("/").split("/resolve/", 1)
            _, _, file_path = rest.partition("/")
            repo = self._repo(repo_id)
            if repo is None:
                return
            if file_path not in repo.files:
                self._send(404, b"", {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": repo.sha})
                return
            content = repo.files[file_path]
            headers = {"X-Repo-Commit": repo.sha, "ETag": f'"{_git_oid(content)}"', "Accept-Ranges": "bytes"}
            if file_path in repo.lfs:
                headers |= {"X-Linked-Etag": f'"{hashlib.sha256(content).hexdigest()}"',
                            "X-Linked-Size": str(len(content))}  # fmt: skip
            wanted = self.headers.get("Range", "")
            if wanted.startswith("bytes="):  # streaming readers fetch byte ranges of a file
                first, _, last = wanted[len("bytes=") :].partition("-")
                start = int(first) if first else max(len(content) - int(last), 0)
                end = min(int(last), len(content) - 1) if first and last else len(content) - 1
                headers["Content-Range"] = f"bytes {start}-{end}/{len(content)}"
                return self._send(206, content[start : end + 1], headers)
            self._send(200, content, headers)

    return Handler


def _git_oid(content: bytes) -> str:
    """The git blob id of ``content`` (what the Hub reports as the oid / ETag of a regular file)."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()
