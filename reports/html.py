"""One self-contained HTML page for a matrix: no network, no external assets.

Claims down (grouped by topic), (kernel, filesystem, target) columns across,
a colour per verdict, filters (topic, verdict, only rows that differ, text),
sticky headers, and a detail panel per cell: the claim, its sources and
quotes, the reference, the observation, the minimal counterexample with its
replay line, and the platform's identity.
"""

from __future__ import annotations

import html
import json

from reports.matrix import rows_that_differ

_STYLE = """
:root { --holds:#c8e6c9; --refuted:#ffcdd2; --observed:#bbdefb; --unsupported:#eeeeee; --error:#ffe0b2; --notrun:#ffffff; }
* { box-sizing: border-box; }
body { margin: 0; font: 13px/1.4 system-ui, sans-serif; color: #222; }
header { padding: 8px 12px; background: #263238; color: #fff; }
header h1 { margin: 0; font-size: 16px; }
header .counts span { margin-right: 12px; }
.controls { display: flex; gap: 14px; align-items: center; padding: 6px 12px; border-bottom: 1px solid #ccc; flex-wrap: wrap; }
.legend span { padding: 1px 6px; border: 1px solid #bbb; margin-right: 4px; }
#scroller { overflow: auto; height: calc(100vh - 96px); }
table { border-collapse: separate; border-spacing: 0; }
th, td { border-right: 1px solid #ddd; border-bottom: 1px solid #ddd; padding: 3px 6px; white-space: nowrap; }
thead th { position: sticky; top: 0; background: #eceff1; z-index: 2; font-weight: 600; text-align: left; vertical-align: bottom; }
thead th.claim { left: 0; z-index: 3; }
tbody th.claim { position: sticky; left: 0; background: #fafafa; z-index: 1; text-align: left; font-weight: normal;
                 max-width: 360px; overflow: hidden; text-overflow: ellipsis; cursor: pointer; }
tr.topic th { position: sticky; left: 0; background: #cfd8dc; text-align: left; z-index: 1; }
td.cell { cursor: pointer; min-width: 90px; }
td.cell:hover, th.claim:hover { outline: 2px solid #546e7a; outline-offset: -2px; }
td.unexpected { box-shadow: inset 0 0 0 3px #c62828; font-weight: 600; }
.v-holds { background: var(--holds); } .v-refuted { background: var(--refuted); } .v-observed { background: var(--observed); }
.v-unsupported { background: var(--unsupported); color: #555; } .v-error { background: var(--error); } .v-not-run { background: var(--notrun); color: #aaa; }
.differs th.claim::after { content: " ≠"; color: #c62828; font-weight: 700; }
#detail { position: fixed; top: 0; right: 0; width: min(640px, 100vw); height: 100vh; overflow: auto; background: #fff;
          border-left: 2px solid #546e7a; box-shadow: -4px 0 12px rgba(0,0,0,.2); padding: 12px 16px; z-index: 10; }
#detail h2 { font-size: 15px; margin: 0 30px 6px 0; }
#detail h3 { font-size: 13px; margin: 12px 0 4px; }
#detail pre { background: #f5f5f5; padding: 6px; white-space: pre-wrap; word-break: break-all; max-height: 300px; overflow: auto; }
#detail blockquote { margin: 2px 0 6px 8px; padding-left: 8px; border-left: 3px solid #90a4ae; }
#close { position: absolute; top: 8px; right: 10px; font-size: 18px; cursor: pointer; border: none; background: none; }
.verdict { display: inline-block; padding: 1px 8px; border: 1px solid #999; }
"""

_SCRIPT = """
const data = JSON.parse(document.getElementById('matrix-data').textContent);
const differ = new Set(JSON.parse(document.getElementById('differ-data').textContent));
const cols = data.columns, claims = data.claims;
const grid = new Map(data.results.map(r => [r.claim + '\\u0000' + r.column, r]));
const cellOf = (claim, col) => grid.get(claim.id + '\\u0000' + col.id);
const vclass = v => 'v-' + v.replace(' ', '-');
const label = c => c.verdict === 'observed' ? 'observed: ' + c.alternatives.join(', ')
  : c.verdict === 'refuted' && c.as_expected ? 'refuted (expected)' : c.verdict;
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const child of children) node.append(child);
  return node;
}
function build() {
  const head = el('tr', {}, el('th', {class: 'claim'}, 'claim'));
  cols.forEach(col => head.append(el('th', {title: col.id}, col.kernel_release, el('br'), col.fs_type + ' · ' + col.target)));
  document.querySelector('#matrix thead').append(head);
  const body = document.querySelector('#matrix tbody');
  const topics = [...new Set(claims.map(c => c.topic))];
  const topicSelect = document.getElementById('topic');
  for (const topic of topics) {
    topicSelect.append(el('option', {value: topic}, topic.toUpperCase()));
    body.append(el('tr', {class: 'topic', 'data-topic': topic}, el('th', {colspan: String(cols.length + 1)}, topic.toUpperCase())));
    for (const claim of claims.filter(c => c.topic === topic)) {
      const verdicts = cols.map(col => cellOf(claim, col).verdict);
      const row = el('tr', {class: 'row' + (differ.has(claim.id) ? ' differs' : ''), 'data-topic': topic,
        'data-claim': claim.id, 'data-verdicts': verdicts.join('|'),
        'data-text': (claim.id + ' ' + claim.name + ' ' + claim.statement + ' ' + claim.inventory.join(' ')).toLowerCase()});
      const name = el('th', {class: 'claim', title: claim.statement});
      name.append(el('b', {}, claim.id), ' ' + claim.name);
      name.addEventListener('click', () => showClaim(claim));
      row.append(name);
      cols.forEach(col => {
        const cell = cellOf(claim, col);
        const td = el('td', {class: 'cell ' + vclass(cell.verdict) + (cell.as_expected ? '' : ' unexpected'),
          'data-verdict': cell.verdict}, label(cell));
        td.addEventListener('click', () => showCell(claim, col, cell));
        row.append(td);
      });
      body.append(row);
    }
  }
}
function applyFilters() {
  const topic = document.getElementById('topic').value, verdict = document.getElementById('verdict').value;
  const onlyDiffer = document.getElementById('only-differ').checked;
  const text = document.getElementById('search').value.trim().toLowerCase();
  let shown = 0;
  document.querySelectorAll('#matrix tr.row').forEach(row => {
    const visible = (!topic || row.dataset.topic === topic)
      && (!verdict || row.dataset.verdicts.split('|').includes(verdict))
      && (!onlyDiffer || row.classList.contains('differs'))
      && (!text || row.dataset.text.includes(text));
    row.hidden = !visible;
    shown += visible;
  });
  document.querySelectorAll('#matrix tr.topic').forEach(group => {
    group.hidden = !document.querySelector(`#matrix tr.row[data-topic="${group.dataset.topic}"]:not([hidden])`);
  });
  document.getElementById('shown').textContent = shown + ' of ' + claims.length + ' claims shown';
}
function section(panel, title, ...content) { panel.append(el('h3', {}, title), ...content); }
const pre = value => el('pre', {}, typeof value === 'string' ? value : JSON.stringify(value, null, 1));
function claimSections(panel, claim) {
  panel.append(el('p', {}, claim.statement));
  panel.append(el('p', {}, 'Kind: ' + claim.kind + ' · inventory: ' + claim.inventory.join(', ')
    + (claim.derived_from.length ? ' · derived from ' + claim.derived_from.join(', ') : '')
    + (claim.contradicts.length ? ' · contradicts ' + claim.contradicts.join(', ') : '')));
  if (claim.reading) section(panel, 'Reading', el('p', {}, claim.reading));
  section(panel, 'Sources', ...claim.sources.map(s => el('div', {}, s.seed, el('blockquote', {}, '“' + s.quote + '”'))));
  section(panel, 'Authoritative reference', el('p', {}, claim.reference));
  if (claim.preconditions.length) section(panel, 'Preconditions', el('ul', {}, ...claim.preconditions.map(p => el('li', {}, p))));
  if (claim.alternatives.length) section(panel, 'Alternatives', el('p', {}, claim.alternatives.join(' · ')));
  if (claim.notes) section(panel, 'Notes', el('p', {}, claim.notes));
}
function openPanel(title) {
  const panel = document.getElementById('detail-body');
  panel.replaceChildren(el('h2', {}, title));
  document.getElementById('detail').hidden = false;
  return panel;
}
function showClaim(claim) { claimSections(openPanel(claim.id + ' — ' + claim.name), claim); }
function showCell(claim, col, cell) {
  const panel = openPanel(claim.id + ' — ' + claim.name);
  panel.append(el('p', {}, el('span', {class: 'verdict ' + vclass(cell.verdict)}, label(cell)),
    ' on ' + col.id + (cell.as_expected ? '' : ' — UNEXPECTED')));
  if (cell.detail) panel.append(el('p', {}, cell.detail));
  if (cell.expected) section(panel, 'Expectation (' + cell.expected.file + ')',
    el('p', {}, cell.expected.verdict + ' ' + cell.expected.alternatives.join(', ') + ': ' + cell.expected.reason),
    el('p', {}, 'Reference: ' + cell.expected.reference));
  if (cell.counterexample) {
    section(panel, 'Minimal counterexample', pre(cell.counterexample.parameters));
    section(panel, 'Observation', pre(cell.counterexample.observation));
    const notes = (cell.counterexample.hypothesis || []).join('\\n').trim();
    const tests = (cell.tests || []).map(t => 'pytest ' + JSON.stringify(t)).join('\\n');
    section(panel, 'Replay', pre(tests + (notes ? '\\n\\n' + notes : '')));
  }
  if (cell.alternative_examples && Object.keys(cell.alternative_examples).length)
    section(panel, 'Observed (an example per alternative)', pre(cell.alternative_examples));
  section(panel, 'Run', el('p', {}, cell.examples + ' example(s), ' + cell.duration_s + ' s' +
    (cell.tests && cell.tests.length ? ' · ' + cell.tests.join(', ') : '')));
  claimSections(panel, claim);
  section(panel, 'Platform', pre({kernel: col.host.kernel_release, version: col.host.kernel_version, arch: col.arch,
    page_size: col.host.page_size, libc: col.host.libc, python: col.host.python, euid: col.host.euid,
    capabilities: col.host.capabilities, packages: col.host.packages, filesystem: col.target_info.fs,
    directory: col.target_info.directory, run: col.run}));
}
build();
['topic', 'verdict', 'only-differ', 'search'].forEach(id => document.getElementById(id).addEventListener('input', applyFilters));
document.getElementById('close').addEventListener('click', () => { document.getElementById('detail').hidden = true; });
document.addEventListener('keydown', e => { if (e.key === 'Escape') document.getElementById('detail').hidden = true; });
applyFilters();
"""


def _json_for_script(value) -> str:
    # Inside <script>, "</" would end the element early; "\\/" is the same string to JSON.
    return json.dumps(value, separators=(",", ":")).replace("</", "<\\/")


def render(matrix: dict, title: str = "mmapconf conformance") -> str:
    counts = " ".join(f"<span>{html.escape(v)}: {n}</span>" for v, n in sorted(matrix["summary"]["verdicts"].items()))
    verdict_options = "".join(f'<option value="{v}">{v}</option>'
                              for v in ("holds", "refuted", "observed", "unsupported", "error", "not run"))
    legend = "".join(f'<span class="v-{v.replace(" ", "-")}">{v}</span>'
                     for v in ("holds", "refuted", "observed", "unsupported", "error", "not run"))
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{_STYLE}</style>
</head>
<body>
<header>
<h1>{html.escape(title)}</h1>
<div class="counts">{len(matrix["claims"])} claims × {len(matrix["columns"])} columns · generated {html.escape(matrix["generated"])} ·
{counts} <span>unexpected: {matrix["summary"]["unexpected"]}</span></div>
</header>
<div class="controls">
<label>Topic <select id="topic"><option value="">all</option></select></label>
<label>Verdict <select id="verdict"><option value="">any</option>{verdict_options}</select></label>
<label><input type="checkbox" id="only-differ"> only rows that differ</label>
<label>Find <input type="search" id="search" placeholder="ID, name, text"></label>
<span id="shown"></span>
<span class="legend">{legend} <span class="unexpected-key" style="box-shadow: inset 0 0 0 3px #c62828">unexpected</span></span>
</div>
<div id="scroller"><table id="matrix"><thead></thead><tbody></tbody></table></div>
<aside id="detail" hidden><button id="close" title="close (Esc)">×</button><div id="detail-body"></div></aside>
<script type="application/json" id="matrix-data">{_json_for_script(matrix)}</script>
<script type="application/json" id="differ-data">{_json_for_script(sorted(rows_that_differ(matrix)))}</script>
<script>{_SCRIPT}</script>
</body>
</html>
"""
