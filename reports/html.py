"""One self-contained HTML page for a matrix: no network, no external assets.

The page opens with a summary of each run (started, duration, Hypothesis profile,
command line, commit, host). Then claims down (grouped by topic), (kernel,
filesystem, target) columns across, a colour per verdict, filters (topic,
verdict, filesystem, kernel, only rows that differ, text; claims no column ran
are hidden until asked for), sticky headers, and a detail panel per cell: the
claim, its sources and quotes, the reference, the observation, the minimal
counterexample with its replay line, links to its catalog entry and test source,
and the platform's identity. The filters and the open panel live in the URL's
fragment (``#verdict=refuted&fs=ext4&open=OPEN-1&column=…``), so a view can be
shared as a link and is restored on load and when the fragment changes.

Source links: to ``REPOSITORY/blob/COMMIT/FILE#LLINE`` when the run recorded a
web address for its checkout (``run.source.repository``) and a commit, else to
the file in the checkout that ran (``file://``, the line in the link's text).
"""

from __future__ import annotations

import html
import json
import shlex

from reports.matrix import cell_grid, platform, verdict_key

VERDICTS = ("holds", "refuted", "observed", "unsupported", "error", "not run")

_STYLE = """
:root { --holds:#c8e6c9; --refuted:#ffcdd2; --observed:#bbdefb; --unsupported:#eeeeee; --error:#ffe0b2; --notrun:#ffffff; }
* { box-sizing: border-box; }
body { margin: 0; font: 13px/1.4 system-ui, sans-serif; color: #222; display: flex; flex-direction: column; height: 100vh; }
header { padding: 8px 12px; background: #263238; color: #fff; }
header h1 { margin: 0; font-size: 16px; }
header .counts span { margin-right: 12px; }
#summary { padding: 4px 12px; border-bottom: 1px solid #ccc; max-height: 30vh; overflow: auto; flex: none; }
#summary summary { cursor: pointer; font-weight: 600; }
#summary table.runs td, #summary table.runs th { white-space: normal; vertical-align: top; border: none; padding: 2px 10px 2px 0; }
#summary td.argv { font-family: ui-monospace, monospace; word-break: break-all; }
#summary .where { color: #666; }
.controls { flex: none; display: flex; gap: 14px; align-items: center; padding: 6px 12px; border-bottom: 1px solid #ccc; flex-wrap: wrap; }
.legend span { padding: 1px 6px; border: 1px solid #bbb; margin-right: 4px; }
#scroller { overflow: auto; flex: 1 1 auto; min-height: 0; }
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
#detail a.source { font-family: ui-monospace, monospace; }
"""

_SCRIPT = r"""
const data = JSON.parse(document.getElementById('matrix-data').textContent);
// What makes two cells differ (reports.matrix.verdict_key), per claim, per column.
const keys = JSON.parse(document.getElementById('keys-data').textContent);
const cols = data.columns, claims = data.claims;
const grid = new Map(data.results.map(r => [r.claim + '\u0000' + r.column, r]));
const cellOf = (claim, col) => grid.get(claim.id + '\u0000' + col.id);
const claimById = new Map(claims.map(c => [c.id, c])), colById = new Map(cols.map(c => [c.id, c]));
const claimIndex = new Map(claims.map((c, i) => [c.id, i])), colIndex = new Map(cols.map((c, i) => [c.id, i]));
const keyOf = (claim, col) => keys[claimIndex.get(claim.id)][colIndex.get(col.id)];
const vclass = v => 'v-' + v.replace(' ', '-');
const label = (cell, key) => cell.verdict === 'refuted' && cell.as_expected ? 'refuted (expected)' : key;
const $ = id => document.getElementById(id);
// The filters as the URL's fragment names them, and their controls.
const selects = {topic: 'topic', verdict: 'verdict', fs: 'fs', kernel: 'kernel'};
const boxes = {differ: 'only-differ', notrun: 'show-not-run'};
let rows = [], opened = null;  // opened: {claim, column} (column null for the claim's own panel)
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const child of children) node.append(child);
  return node;
}
function fillSelect(id, values, shown) {
  values.forEach(v => $(id).append(el('option', {value: v}, shown(v))));
  $(id).closest('label').hidden = values.length < 2;
}
function build() {
  const head = el('tr', {}, el('th', {class: 'claim'}, 'claim'));
  cols.forEach(col => head.append(el('th', {title: col.id + ' (' + (col.platform || col.arch) + ')'}, col.kernel_release, el('br'),
    col.fs_type + ' · ' + col.target)));
  document.querySelector('#matrix thead').append(head);
  const body = document.querySelector('#matrix tbody');
  const topics = [...new Set(claims.map(c => c.topic))];
  fillSelect('topic', topics, t => t.toUpperCase());
  fillSelect('fs', [...new Set(cols.map(c => c.fs_type))], v => v);
  fillSelect('kernel', [...new Set(cols.map(c => c.kernel_release))], v => v);
  for (const topic of topics) {
    const group = el('tr', {class: 'topic', 'data-topic': topic}, el('th', {colspan: String(cols.length + 1)}, topic.toUpperCase()));
    body.append(group);
    for (const claim of claims.filter(c => c.topic === topic)) {
      const cells = cols.map(col => cellOf(claim, col)), rowKeys = cols.map(col => keyOf(claim, col));
      const row = el('tr', {class: 'row', 'data-topic': topic, 'data-claim': claim.id});
      const name = el('th', {class: 'claim', title: claim.statement});
      name.append(el('b', {}, claim.id), ' ' + claim.name);
      row.append(name);
      cells.forEach((cell, i) => row.append(el('td', {class: 'cell ' + vclass(cell.verdict) + (cell.as_expected ? '' : ' unexpected'),
        'data-verdict': cell.verdict, 'data-column': String(i)}, label(cell, rowKeys[i]))));
      body.append(row);
      rows.push({row, group, claim, verdicts: cells.map(c => c.verdict), keys: rowKeys,
        text: (claim.id + ' ' + claim.name + ' ' + claim.statement + ' ' + claim.inventory.join(' ')).toLowerCase()});
    }
  }
  body.addEventListener('click', event => {
    const target = event.target.closest('td.cell, th.claim');
    if (!target || !target.closest('tr.row')) return;
    const claim = claimById.get(target.closest('tr.row').dataset.claim);
    if (target.matches('td.cell')) showCell(claim, cols[Number(target.dataset.column)]);
    else showClaim(claim);
  });
}
function controls() {
  const state = {};
  for (const [key, id] of Object.entries(selects)) state[key] = $(id).value;
  for (const [key, id] of Object.entries(boxes)) state[key] = $(id).checked;
  state.q = $('search').value;
  return state;
}
function applyFilters() {
  const state = controls(), text = state.q.trim().toLowerCase();
  const shownCols = cols.map((col, i) => i).filter(i => (!state.fs || cols[i].fs_type === state.fs)
    && (!state.kernel || cols[i].kernel_release === state.kernel));
  const hiddenCols = cols.map((col, i) => i).filter(i => !shownCols.includes(i));
  // Columns hide through one style rule each: a filter touches no cell.
  $('column-filter').textContent = hiddenCols.map(i => `#matrix tr > :nth-child(${i + 2})`).join(',\n')
    + (hiddenCols.length ? ' { display: none; }' : '');
  let shown = 0, notRun = 0;
  const groupsShown = new Set();
  for (const r of rows) {
    const verdicts = shownCols.map(i => r.verdicts[i]);
    const differs = new Set(shownCols.map(i => r.keys[i]).filter(k => k !== 'not run')).size > 1;
    r.row.classList.toggle('differs', differs);
    const wanted = (!state.topic || r.claim.topic === state.topic)
      && (!state.verdict || verdicts.includes(state.verdict))
      && (!state.differ || differs)
      && (!text || r.text.includes(text));
    const neverRun = verdicts.every(v => v === 'not run');
    notRun += wanted && neverRun;
    const visible = wanted && (!neverRun || state.notrun || state.verdict === 'not run');
    r.row.hidden = !visible;
    shown += visible;
    if (visible) groupsShown.add(r.group);
  }
  rows.forEach(r => { r.group.hidden = !groupsShown.has(r.group); });
  $('not-run-count').textContent = notRun + (notRun === 1 ? ' claim' : ' claims') + ' not run — show';
  $('not-run').hidden = !notRun && !state.notrun;
  $('shown').textContent = shown + ' of ' + claims.length + ' claims shown';
}
// The fragment: key=value pairs joined by '&', values percent-encoded but for '/' (claim and column IDs have them).
const encode = value => encodeURIComponent(value).replace(/%2F/g, '/');
function fragment() {
  const state = Object.assign(controls(), opened ? {open: opened.claim.id, column: opened.column && opened.column.id} : {});
  return Object.entries(state).filter(([, v]) => v).map(([k, v]) => k + '=' + (v === true ? '1' : encode(v))).join('&');
}
function writeHash() {
  const wanted = fragment();
  if (wanted !== location.hash.slice(1))
    history.replaceState(null, '', wanted ? '#' + wanted : location.pathname + location.search);
}
function readHash() {
  const state = {};
  for (const part of location.hash.slice(1).split('&').filter(Boolean)) {
    const at = part.includes('=') ? part.indexOf('=') : part.length;
    try { state[part.slice(0, at)] = decodeURIComponent(part.slice(at + 1)); } catch (malformed) { /* that pair is ignored */ }
  }
  return state;
}
function restore() {
  const state = readHash();
  for (const [key, id] of Object.entries(selects)) {
    $(id).value = state[key] || '';
    if ($(id).value !== (state[key] || '')) $(id).value = '';  // not one of this page's options
  }
  for (const [key, id] of Object.entries(boxes)) $(id).checked = state[key] === '1';
  $('search').value = state.q || '';
  applyFilters();
  const claim = claimById.get(state.open), col = colById.get(state.column);
  if (claim && col) showCell(claim, col);
  else if (claim) showClaim(claim);
  else closePanel();
}
function section(panel, title, ...content) { panel.append(el('h3', {}, title), ...content); }
const pre = value => el('pre', {}, typeof value === 'string' ? value : JSON.stringify(value, null, 1));
const encodePath = path => path.split('/').map(encodeURIComponent).join('/');
// A link to a line of the run's checkout: at its commit in its repository when the run knew both, else the file itself.
function sourceLink(run, place) {
  const source = run && run.source;
  if (!source || !place) return null;
  const atRepository = source.repository && /^https:\/\//.test(source.repository) && run.mmapconf_commit
    && !place.file.startsWith('/');
  const href = atRepository
    ? source.repository + '/blob/' + encodeURIComponent(run.mmapconf_commit) + '/' + encodePath(place.file) + '#L' + place.line
    : 'file://' + encodePath(place.file.startsWith('/') ? place.file : source.checkout.replace(/\/$/, '') + '/' + place.file);
  return el('a', {class: 'source', href, target: '_blank', rel: 'noopener'}, place.file + ':' + place.line);
}
// places: [run, {file, line}] pairs, each test's location with the run it ran in.
function sourceSection(panel, claim, run, places) {
  const entry = sourceLink(run, claim.catalog);
  const tests = [...new Map(places.map(([r, place]) => sourceLink(r, place)).filter(Boolean)
    .map(link => [link.href, link])).values()];
  if (!entry && !tests.length) return;
  const lines = [];
  if (entry) lines.push(el('div', {class: 'catalog-entry'}, 'Catalog entry: ', entry));
  tests.forEach(link => lines.push(el('div', {class: 'test-source'}, 'Test: ', link)));
  section(panel, 'Source', ...lines);
}
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
function openPanel(claim, col) {
  opened = {claim, column: col};
  const panel = $('detail-body');
  panel.replaceChildren(el('h2', {}, claim.id + ' — ' + claim.name));
  $('detail').hidden = false;
  writeHash();
  return panel;
}
function closePanel() {
  opened = null;
  $('detail').hidden = true;
  writeHash();
}
const locations = cell => (cell && cell.test_locations) || [];
function showClaim(claim) {
  const panel = openPanel(claim, null);
  claimSections(panel, claim);
  // The catalog entry as the newest column's run has it (a merged matrix keeps the last run's claim entries).
  sourceSection(panel, claim, cols.length ? cols[cols.length - 1].run : null,
    cols.flatMap(col => locations(cellOf(claim, col)).map(place => [col.run, place])));
}
function showCell(claim, col) {
  const cell = cellOf(claim, col), panel = openPanel(claim, col);
  panel.append(el('p', {}, el('span', {class: 'verdict ' + vclass(cell.verdict)}, label(cell, keyOf(claim, col))),
    ' on ' + col.id + (cell.as_expected ? '' : ' — UNEXPECTED')));
  if (cell.detail) panel.append(el('p', {}, cell.detail));
  if (cell.expected) section(panel, 'Expectation (' + cell.expected.file + ')',
    el('p', {}, cell.expected.verdict + ' ' + cell.expected.alternatives.join(', ') + ': ' + cell.expected.reason),
    el('p', {}, 'Reference: ' + cell.expected.reference));
  if (cell.counterexample) {
    section(panel, 'Minimal counterexample', pre(cell.counterexample.parameters));
    section(panel, 'Observation', pre(cell.counterexample.observation));
    const notes = (cell.counterexample.hypothesis || []).join('\n').trim();
    if (notes) section(panel, 'Hypothesis (the failing example, @reproduce_failure)', pre(notes));
  }
  if (cell.replay) section(panel, 'Replay (from the checkout)', pre(cell.replay));
  if (cell.alternative_examples && Object.keys(cell.alternative_examples).length)
    section(panel, 'Observed (an example per alternative)', pre(cell.alternative_examples));
  section(panel, 'Run', el('p', {}, cell.examples + ' example(s), ' + cell.duration_s + ' s' +
    (cell.tests && cell.tests.length ? ' · ' + cell.tests.join(', ') : '')));
  sourceSection(panel, claim, col.run, locations(cell).map(place => [col.run, place]));
  claimSections(panel, claim);
  section(panel, 'Platform', pre({kernel: col.host.kernel_release, version: col.host.kernel_version, arch: col.arch,
    page_size: col.host.page_size, byte_order: col.host.byte_order, libc: col.host.libc, python: col.host.python, euid: col.host.euid,
    capabilities: col.host.capabilities, packages: col.host.packages, filesystem: col.target_info.fs,
    directory: col.target_info.directory, run: col.run}));
}
build();
[...Object.values(selects), ...Object.values(boxes), 'search'].forEach(id => $(id).addEventListener('input', () => {
  applyFilters();
  writeHash();
}));
$('close').addEventListener('click', closePanel);
document.addEventListener('keydown', e => { if (e.key === 'Escape' && opened) closePanel(); });
window.addEventListener('hashchange', restore);
restore();
"""


def _json_for_script(value) -> str:
    # Inside <script>, "</" would end the element early; "\\/" is the same string to JSON.
    return json.dumps(value, separators=(",", ":")).replace("</", "<\\/")


def _runs(matrix: dict) -> list[tuple[dict, dict, list[dict]]]:
    """Each run in the matrix once (a run gives a column per target): its run section, its host, its columns."""
    runs: dict[str, tuple[dict, dict, list[dict]]] = {}
    for column in matrix["columns"]:
        key = json.dumps([column["run"], column["host"]], sort_keys=True)
        runs.setdefault(key, (column["run"], column["host"], []))[2].append(column)
    return list(runs.values())


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _summary(matrix: dict) -> str:
    """The page's runs, one row each: what a reader asks first (when, how long, how, from which commit, where)."""
    rows = []
    for run, host, columns in _runs(matrix):
        source = run.get("source") or {}
        where = source.get("repository") or source.get("checkout") or ""
        kernel_matrix = run.get("kernel_matrix")
        outcome = f"exit {run['exit_status']}"
        if kernel_matrix:
            outcome += f" · {kernel_matrix['kind']} {kernel_matrix['status']}"
        fields = {
            "started": html.escape(run["started"]),
            "duration": _duration(run["duration_s"]),
            "profile": html.escape(run["hypothesis_profile"]),
            "argv": html.escape(shlex.join(["pytest", *run["argv"]]) if run["argv"] else "–"),
            "commit": f'{html.escape(run.get("mmapconf_commit") or "unknown")}<div class="where">{html.escape(where)}</div>',
            "host": html.escape(f"{host['os']} {host['kernel_release']} · {platform(host)} · {host['python']}"),
            "columns": html.escape(", ".join(f"{c['fs_type']} · {c['target']}" for c in columns)),
            "outcome": html.escape(outcome),
        }
        rows.append("<tr>" + "".join(f'<td class="{name}">{value}</td>' for name, value in fields.items()) + "</tr>")
    count = len(rows)
    return (f'<details id="summary" open><summary>{count} run{"s" if count != 1 else ""}</summary>'
            '<table class="runs"><thead><tr><th>started</th><th>duration</th><th>profile</th><th>command line</th>'
            '<th>commit</th><th>host</th><th>columns</th><th>outcome</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></details>')


def render(matrix: dict, title: str = "mmapconf conformance") -> str:
    counts = " ".join(f"<span>{html.escape(v)}: {n}</span>" for v, n in sorted(matrix["summary"]["verdicts"].items()))
    verdict_options = "".join(f'<option value="{v}">{v}</option>' for v in VERDICTS)
    legend = "".join(f'<span class="v-{v.replace(" ", "-")}">{v}</span>' for v in VERDICTS)
    grid = cell_grid(matrix)
    keys = [[verdict_key(grid[(claim["id"], column["id"])]) for column in matrix["columns"]]
            for claim in matrix["claims"]]
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{_STYLE}</style>
<style id="column-filter"></style>
</head>
<body>
<header>
<h1>{html.escape(title)}</h1>
<div class="counts">{len(matrix["claims"])} claims × {len(matrix["columns"])} columns · generated {html.escape(matrix["generated"])} ·
{counts} <span>unexpected: {matrix["summary"]["unexpected"]}</span></div>
</header>
{_summary(matrix)}
<div class="controls">
<label>Topic <select id="topic"><option value="">all</option></select></label>
<label>Verdict <select id="verdict"><option value="">any</option>{verdict_options}</select></label>
<label>Filesystem <select id="fs"><option value="">all</option></select></label>
<label>Kernel <select id="kernel"><option value="">all</option></select></label>
<label><input type="checkbox" id="only-differ"> only rows that differ</label>
<label>Find <input type="search" id="search" placeholder="ID, name, text"></label>
<label id="not-run"><input type="checkbox" id="show-not-run"> <span id="not-run-count"></span></label>
<span id="shown"></span>
<span class="legend">{legend} <span class="unexpected-key" style="box-shadow: inset 0 0 0 3px #c62828">unexpected</span></span>
</div>
<div id="scroller"><table id="matrix"><thead></thead><tbody></tbody></table></div>
<aside id="detail" hidden><button id="close" title="close (Esc)">×</button><div id="detail-body"></div></aside>
<script type="application/json" id="matrix-data">{_json_for_script(matrix)}</script>
<script type="application/json" id="keys-data">{_json_for_script(keys)}</script>
<script>{_SCRIPT}</script>
</body>
</html>
"""
