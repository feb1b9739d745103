// The report's latent browser (llmdiff_eval/render/latent_browser.py builds the markup, all of it escaped).
// This script only filters, sorts, shows and hides elements that are already in the page: it reads text with
// textContent and never writes markup. Deep links: #latent=<pair>/<latent id> opens that latent's panel,
// #filter=<text> fills the filter box.
(function () {
  'use strict';
  var table = document.getElementById('latent-table');
  if (!table) { return; }
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var input = document.getElementById('latent-filter');
  var modelSelect = document.getElementById('latent-model');
  var classSelect = document.getElementById('latent-class');
  var count = document.getElementById('latent-count');

  function panelOf(key) { return document.getElementById('panel-' + key); }

  function matches(row, query) {
    if (!query) { return true; }
    var panel = panelOf(row.getAttribute('data-key'));
    var text = row.textContent + ' ' + (panel ? panel.textContent : '');
    return text.toLowerCase().indexOf(query) >= 0;
  }

  function applyFilter() {
    var query = (input ? input.value : '').toLowerCase().trim();
    var model = modelSelect ? modelSelect.value : '';
    var klass = classSelect ? classSelect.value : '';
    var shown = 0;
    rows.forEach(function (row) {
      var ok = matches(row, query) && (!model || row.getAttribute('data-model') === model) &&
        (!klass || row.getAttribute('data-class') === klass);
      row.hidden = !ok;
      if (ok) { shown++; }
    });
    if (count) { count.textContent = shown + ' of ' + rows.length + ' latents shown'; }
  }

  function sortBy(header) {
    var column = header.cellIndex;
    var numeric = header.getAttribute('data-type') === 'num';
    var descending = header.getAttribute('aria-sort') !== 'descending';
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (cell) { cell.setAttribute('aria-sort', 'none'); });
    header.setAttribute('aria-sort', descending ? 'descending' : 'ascending');
    function value(row) {
      var cell = row.cells[column];
      if (!numeric) { return cell.textContent.toLowerCase(); }
      var raw = cell.getAttribute('data-sort-value');
      return raw === null || raw === '' ? null : parseFloat(raw);
    }
    var order = rows.map(function (row, index) { return [value(row), index, row]; });
    order.sort(function (x, y) {
      if (x[0] === y[0]) { return x[1] - y[1]; }
      if (x[0] === null) { return 1; }  // missing values last either way
      if (y[0] === null) { return -1; }
      var less = x[0] < y[0] ? -1 : 1;
      return descending ? -less : less;
    });
    rows = order.map(function (entry) { return entry[2]; });
    rows.forEach(function (row) { body.appendChild(row); });
  }

  function open(key, updateHash) {
    var panel = panelOf(key);
    if (!panel) { return false; }
    Array.prototype.forEach.call(document.querySelectorAll('#latent-panels .panel'), function (other) {
      other.hidden = other !== panel;
    });
    rows.forEach(function (row) {
      row.classList.toggle('selected', row.getAttribute('data-key') === key);
    });
    if (updateHash && window.history && window.history.replaceState) {
      window.history.replaceState(null, '', '#latent=' + encodeURIComponent(key).replace(/%2F/g, '/').replace(/%40/g, '@'));
    }
    panel.scrollIntoView({block: 'start'});
    return true;
  }

  function close(panel) {
    panel.hidden = true;
    rows.forEach(function (row) { row.classList.remove('selected'); });
    if (window.history && window.history.replaceState) {
      window.history.replaceState(null, '', window.location.pathname + window.location.search);
    }
  }

  function fromHash() {
    var hash = window.location.hash;
    var latent = /^#latent=(.+)$/.exec(hash);
    if (latent) { open(decodeURIComponent(latent[1]), false); }
    var filter = /^#filter=(.*)$/.exec(hash);
    if (filter && input) { input.value = decodeURIComponent(filter[1]); }
    applyFilter();
  }

  rows.forEach(function (row) {
    row.addEventListener('click', function () { open(row.getAttribute('data-key'), true); });
    row.addEventListener('keydown', function (event) {
      if (event.key === 'Enter') { open(row.getAttribute('data-key'), true); }
    });
  });
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (header) {
    header.addEventListener('click', function () { sortBy(header); });
  });
  Array.prototype.forEach.call(document.querySelectorAll('#latent-panels .panel-close'), function (button) {
    button.addEventListener('click', function () { close(button.closest('.panel')); });
  });
  [input, modelSelect, classSelect].forEach(function (control) {
    if (control) { control.addEventListener('input', applyFilter); }
  });
  window.addEventListener('hashchange', fromHash);
  fromHash();
})();
