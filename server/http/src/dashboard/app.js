// dq dashboard: keeps the server-rendered pages live. Hand-written, no framework, no build step: embedded in
// the binary with include_str!. The page's name is in <body data-page>; each page's function below finds its
// elements by the ids pages.rs gives them. Live data comes over EventSource: a run's own timeline
// (/runs/{id}/events) and the dashboard's snapshot streams (/ui/live/runs, /ui/live/dlq). Actions call the runs
// API as any client does; with a token, the session cookie set at login authenticates them.
'use strict';

(() => {
  const $ = (selector, root = document) => root.querySelector(selector);

  // Builds an element: el('a', {href: '/'}, 'text', child, …). Text is always set as text, never as HTML.
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === 'class') node.className = value;
      else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? '' : String(value));
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  // A runs API call: the parsed JSON answer, or an Error carrying the API's own message.
  async function api(method, path, body) {
    const init = { method, headers: { accept: 'application/json' } };
    if (body !== undefined) {
      init.headers['content-type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = null; }
    if (!response.ok) {
      if (response.status === 401) location.assign('/ui/login?next=' + encodeURIComponent(location.pathname));
      throw new Error(errorText(data, response.status));
    }
    return data;
  }

  // FastAPI-shaped errors: detail is a string or a list of {msg, loc}; DriftQ-shaped: {error: {message}}.
  function errorText(data, status) {
    const detail = data && data.detail;
    if (typeof detail === 'string') return detail;
    if (Array.isArray(detail)) return detail.map((d) => d.msg || JSON.stringify(d)).join('; ');
    if (data && data.error && data.error.message) return data.error.message;
    return `the server answered ${status}`;
  }

  const pad = (n, width = 2) => String(n).padStart(width, '0');
  function clock(ts) {
    const d = new Date(ts);
    return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  }
  function when(ts) {
    const d = new Date(ts);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${clock(ts).slice(0, 8)}`;
  }
  function age(ts) {
    const s = Math.max(0, Math.round((Date.now() - ts) / 1000));
    if (s < 5) return 'just now';
    if (s < 60) return `${s}s`;
    if (s < 3600) return `${Math.floor(s / 60)}m`;
    if (s < 86400) return `${Math.floor(s / 3600)}h`;
    return `${Math.floor(s / 86400)}d`;
  }

  // Status as text; data-status only adds colour.
  const STATUS_TEXT = { dead_lettered: 'dead-lettered' };
  const statusBadge = (status) => el('span', { class: 'status', 'data-status': status }, STATUS_TEXT[status] || status);

  function setLive(text, ok) {
    const line = $('#live');
    if (!line) return;
    line.textContent = text;
    line.dataset.ok = ok ? 'yes' : 'no';
  }

  // Follows one of the dashboard's snapshot streams.
  function snapshots(url, onSnapshot) {
    const source = new EventSource(url);
    source.addEventListener('open', () => setLive('live', true));
    source.addEventListener('error', () => setLive('reconnecting…', false));
    source.addEventListener('snapshot', (m) => { setLive('live', true); onSnapshot(JSON.parse(m.data)); });
    source.addEventListener('problem', (m) => setLive(`the server could not list: ${JSON.parse(m.data).detail}`, false));
    return source;
  }

  const runLink = (id) => el('a', { href: `/ui/runs/${encodeURIComponent(id)}` }, el('code', {}, id));

  // --- Runs ---------------------------------------------------------------------------------------------------
  function runsPage() {
    const tbody = $('#runs tbody');
    const filter = $('#status-filter');
    const search = $('#search');
    const params = new URLSearchParams(location.search);
    filter.value = params.get('status') || '';
    search.value = params.get('q') || '';
    let runs = [];
    let loaded = false;
    let source = null;

    function render() {
      const q = search.value.trim().toLowerCase();
      const status = filter.value; // also here: the list in hand may be the previous filter's until the next
      const shown = runs.filter((r) => (!status || r.status === status) && (!q || r.run_id.toLowerCase().includes(q)));
      tbody.replaceChildren(...shown.map((r) => el('tr', { 'data-run': r.run_id },
        el('td', {}, runLink(r.run_id)),
        el('td', {}, statusBadge(r.status)),
        el('td', {}, r.replay_seq),
        el('td', {}, r.attempts),
        el('td', {}, r.fail_at || '-'),
        el('td', { class: 'error-text' }, r.last_error || '-'),
        el('td', { title: when(r.created_ms) }, age(r.created_ms)),
      )));
      const empty = $('#runs-empty');
      empty.hidden = !loaded || shown.length > 0;
      // Only the newest runs are listed: a whole run id that is not among them may still be a run.
      const typed = search.value.trim();
      empty.replaceChildren(/^[A-Za-z0-9_-]{1,64}$/.test(typed)
        ? el('span', {}, 'No listed run matches. ', el('a', { href: `/ui/runs/${typed}` }, `Open run ${typed}`))
        : 'No runs match.');
    }
    // The filters are kept in the address, so that a filtered view can be linked and reloaded.
    function filtersChanged() {
      const next = new URLSearchParams();
      if (filter.value) next.set('status', filter.value);
      if (search.value.trim()) next.set('q', search.value.trim());
      history.replaceState(null, '', next.toString() ? `?${next}` : location.pathname);
      render();
    }
    // The server filters by status (the newest runs of one status may be older than the newest of all);
    // the search is over the runs listed.
    function follow() {
      if (source) source.close();
      loaded = false;
      const query = filter.value ? `?status=${encodeURIComponent(filter.value)}` : '';
      source = snapshots(`/ui/live/runs${query}`, (list) => { runs = list.runs; loaded = true; render(); });
    }
    filter.addEventListener('change', () => { filtersChanged(); follow(); });
    search.addEventListener('input', filtersChanged);
    follow();
    setInterval(render, 5000); // ages move on by themselves
  }

  // --- Run ----------------------------------------------------------------------------------------------------
  const ENVELOPE = new Set(['ts', 'type', 'run_id', 'replay_seq', 'attempt']);

  function fieldsOf(event) {
    return Object.entries(event)
      .filter(([key]) => !ENVELOPE.has(key))
      .map(([key, value]) => el('span', { class: 'field' },
        el('span', { class: 'key' }, key), '=', typeof value === 'string' ? value : JSON.stringify(value)));
  }

  function runPage() {
    const root = $('#run-page');
    const id = root.dataset.run;
    const tbody = $('#timeline tbody');
    const result = $('#replay-result');
    const seenReplays = new Set();
    let dlqRecord = null;
    let refreshTimer = null;

    function addEvent(event) {
      const replay = event.replay_seq || 0;
      const first = !seenReplays.has(replay);
      seenReplays.add(replay);
      tbody.append(el('tr', { id: first ? `replay-${replay}` : null, 'data-type': event.type },
        el('td', { title: when(event.ts) }, clock(event.ts)),
        el('td', {}, el('code', {}, event.type)),
        el('td', {}, event.attempt ?? ''),
        el('td', {}, replay),
        el('td', {}, fieldsOf(event)),
      ));
    }

    async function refresh() {
      try {
        const run = await api('GET', `/runs/${id}`);
        $('#run-status').replaceChildren(statusBadge(run.status));
        $('#run-replay').textContent = run.replay_seq;
        $('#run-attempts').textContent = run.attempts;
        $('#run-fail-at').textContent = run.fail_at || 'none';
        $('#run-error').textContent = run.last_error || '-';
        const items = [el('li', {}, el('a', { href: '#replay-0' }, 'Start'))];
        for (const r of run.replays) {
          const outcome = r.outcome ? (STATUS_TEXT[r.outcome] || r.outcome) : 'in flight';
          items.push(el('li', {}, el('a', { href: `#replay-${r.seq}` }, `Replay ${r.seq}`),
            ` · fail at ${r.fail_at || 'none'} · ${outcome}`));
        }
        $('#replays').replaceChildren(...items);
      } catch (err) {
        result.textContent = `Could not read the run: ${err.message}`;
      }
    }
    // Several events arrive together: one read of the run for all of them.
    function scheduleRefresh() {
      clearTimeout(refreshTimer);
      refreshTimer = setTimeout(refresh, 100);
    }

    async function loadDlq() {
      try {
        dlqRecord = await api('GET', `/runs/${id}/dlq`);
      } catch {
        return; // none yet
      }
      const r = dlqRecord;
      const rows = [['Replay', r.replay_seq], ['Reason', r.reason], ['Error', r.error],
        ['Attempts', `${r.attempts}/${r.max_attempts}`], ['When', when(r.ts)]];
      $('#dlq-record').replaceChildren(...rows.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
      $('#dlq-payload').textContent = JSON.stringify(r.command, null, 2);
      $('#dlq-section').hidden = false;
    }

    async function replay(body, what) {
      result.textContent = 'asking for a replay…';
      try {
        const answer = await api('POST', `/runs/${id}/replay`, body);
        result.textContent = `Replay ${answer.seq} started${what}.`;
      } catch (err) {
        result.textContent = `Replay refused: ${err.message}`;
      }
    }

    $('#replay-fix').addEventListener('click', () => replay({ fail_at: null }, ' with the fix (no forced failure)'));
    $('#replay-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const form = e.target;
      const body = {};
      const failAt = form.elements.fail_at.value;
      if (failAt === 'none') body.fail_at = null;
      else if (failAt !== 'inherit') body.fail_at = failAt;
      const input = {};
      for (const line of form.elements.set.value.split('\n').map((l) => l.trim()).filter(Boolean)) {
        const eq = line.indexOf('=');
        if (eq < 1) { result.textContent = `Invalid override "${line}": expected KEY=VALUE`; return; }
        const raw = line.slice(eq + 1);
        let value;
        try { value = JSON.parse(raw); } catch { value = raw; } // as dq replay --set: JSON, else a string
        input[line.slice(0, eq)] = value;
      }
      if (Object.keys(input).length) body.input = input;
      if (form.elements.max_attempts.value) body.max_attempts = Number(form.elements.max_attempts.value);
      if (form.elements.keep_overrides.checked) body.keep_overrides = true;
      if (form.elements.force.checked) body.force = true;
      replay(body, '');
    });
    $('#copy-payload').addEventListener('click', async () => {
      if (!dlqRecord) return;
      const text = JSON.stringify(dlqRecord.command, null, 2);
      try {
        await navigator.clipboard.writeText(text);
        result.textContent = 'Payload copied.';
      } catch {
        // No clipboard (an insecure origin, a denied permission): select it for a manual copy.
        getSelection().selectAllChildren($('#dlq-payload'));
        result.textContent = 'Payload selected: copy it with your keyboard.';
      }
    });

    const source = new EventSource(`/runs/${id}/events`);
    source.addEventListener('error', () => setLive('reconnecting…', false));
    source.addEventListener('message', (m) => {
      const event = JSON.parse(m.data);
      if (event.type === 'sse.connected') { setLive('live', true); return; }
      if (event.type === 'dlq.available') { loadDlq(); return; }
      addEvent(event);
      if (event.type === 'run.dlq' || event.type === 'run.failed') loadDlq();
      scheduleRefresh();
    });
  }

  // --- Start a run --------------------------------------------------------------------------------------------
  function startPage() {
    const form = $('#start-form');
    const workflow = $('#workflow');
    const failAt = $('#fail-at');
    const input = $('#input');
    const inputError = $('#input-error');
    const result = $('#start-result');

    workflow.addEventListener('change', () => {
      const steps = (workflow.selectedOptions[0].dataset.steps || '').split(' ').filter(Boolean);
      failAt.replaceChildren(el('option', { value: '' }, 'none'), ...steps.map((s) => el('option', { value: s }, s)));
    });
    // The input is checked before anything is sent, as `dq run --input` does.
    function parsedInput() {
      let value;
      try {
        value = JSON.parse(input.value.trim() || '{}');
      } catch (err) {
        return { error: `Input is not valid JSON: ${err.message}` };
      }
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        return { error: 'Input must be a JSON object, such as {"customer": 42}.' };
      }
      return { value };
    }
    function showInputError(error) {
      inputError.textContent = error || '';
      if (error) input.setAttribute('aria-invalid', 'true');
      else input.removeAttribute('aria-invalid');
    }
    input.addEventListener('input', () => showInputError(parsedInput().error));

    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const parsed = parsedInput();
      showInputError(parsed.error);
      if (parsed.error) { input.focus(); return; }
      const body = { workflow: workflow.value, input: parsed.value, fail_at: failAt.value || null };
      const max = $('#max-attempts').value;
      if (max) body.max_attempts = Number(max);
      result.textContent = 'starting…';
      try {
        const created = await api('POST', '/runs', body);
        location.assign(`/ui/runs/${encodeURIComponent(created.run_id)}`);
      } catch (err) {
        result.textContent = `Not started: ${err.message}`;
      }
    });
  }

  // --- DLQ ----------------------------------------------------------------------------------------------------
  function dlqPage() {
    const tbody = $('#dlq tbody');
    const redrive = $('#redrive');
    const selectAll = $('#select-all');
    const result = $('#redrive-result');
    const selected = new Set();
    const open = new Set(); // payloads left open survive the next snapshot
    let items = [];
    let loaded = false;

    function sync() {
      for (const id of [...selected]) if (!items.some((r) => r.run_id === id)) selected.delete(id);
      redrive.disabled = selected.size === 0;
      redrive.textContent = selected.size ? `Replay ${selected.size} selected with fix` : 'Replay selected with fix';
      selectAll.checked = items.length > 0 && selected.size === items.length;
    }
    function render() {
      tbody.replaceChildren(...items.map((r) => {
        const box = el('input', { type: 'checkbox', 'aria-label': `Select run ${r.run_id}`, checked: selected.has(r.run_id) });
        box.addEventListener('change', () => { if (box.checked) selected.add(r.run_id); else selected.delete(r.run_id); sync(); });
        const payload = el('details', { open: open.has(r.run_id) },
          el('summary', {}, 'payload'), el('pre', {}, JSON.stringify(r.command, null, 2)));
        payload.addEventListener('toggle', () => { if (payload.open) open.add(r.run_id); else open.delete(r.run_id); });
        return el('tr', { 'data-run': r.run_id },
          el('td', {}, box), el('td', {}, runLink(r.run_id)), el('td', {}, r.workflow),
          el('td', { class: 'error-text' }, r.error), el('td', {}, `${r.attempts}/${r.max_attempts}`),
          el('td', {}, r.reason), el('td', { title: when(r.ts) }, `${age(r.ts)} ago`), el('td', {}, payload));
      }));
      $('#dlq-empty').hidden = !loaded || items.length > 0;
      sync();
    }
    selectAll.addEventListener('change', () => {
      selected.clear();
      if (selectAll.checked) for (const r of items) selected.add(r.run_id);
      render();
    });
    // The bulk redrive of `dq dlq redrive --fix`: one replay per run, each with the fix.
    redrive.addEventListener('click', async () => {
      const ids = [...selected];
      redrive.disabled = true;
      const refused = [];
      for (const [i, id] of ids.entries()) {
        result.textContent = `replaying ${i + 1} of ${ids.length}…`;
        try { await api('POST', `/runs/${id}/replay`, { fail_at: null }); } catch (err) { refused.push(`${id}: ${err.message}`); }
      }
      selected.clear();
      const accepted = ids.length - refused.length;
      result.textContent = `Replayed ${accepted} of ${ids.length} with the fix.` + (refused.length ? ` Refused: ${refused.join('; ')}` : '');
      render();
    });
    snapshots('/ui/live/dlq', (list) => { items = list.items; loaded = true; render(); });
  }

  // --- Demo ---------------------------------------------------------------------------------------------------
  const DEMO_STEP_WAIT_MS = 60000;

  function demoPage() {
    const button = $('#run-demo');
    const result = $('#demo-result');
    const steps = [...document.querySelectorAll('#demo-steps li')];
    let source = null;

    function mark(n, state, elapsed, detail) {
      const li = steps[n - 1];
      li.dataset.state = state;
      $('.mark', li).textContent = { done: '✓', failed: '✗', waiting: '○', active: '…' }[state];
      $('.state', li).textContent = { done: 'done', failed: 'failed', waiting: 'waiting', active: 'in progress' }[state];
      $('.elapsed', li).textContent = elapsed === undefined ? '' : `${(elapsed / 1000).toFixed(2)}s`;
      $('.detail', li).textContent = detail || '';
    }

    button.addEventListener('click', async () => {
      button.disabled = true;
      if (source) source.close();
      steps.forEach((_, i) => mark(i + 1, 'waiting'));
      result.textContent = '';
      const started = performance.now();
      const since = () => performance.now() - started;
      let step = 1;
      let timer = null;
      const finish = (text) => { clearTimeout(timer); if (source) source.close(); result.textContent = text; button.disabled = false; };
      const fail = (text) => { mark(step, 'failed', since(), text); finish(`stopped at step ${step}: ${text}`); };
      // Each step has its own bounded wait, as `dq demo` has.
      const next = (n) => {
        step = n;
        if (n <= 4) mark(n, 'active');
        clearTimeout(timer);
        timer = setTimeout(() => fail('timed out'), DEMO_STEP_WAIT_MS);
      };
      let runId;
      let succeeded = null;
      let replaying = false;
      const succeed = () => {
        if (step !== 4 || succeeded === null) return;
        mark(4, 'done', since(), `replay ${succeeded} succeeded`);
        finish(`all four steps in ${(since() / 1000).toFixed(2)} s`);
      };
      next(1);
      try {
        runId = (await api('POST', '/runs', { fail_at: 'tool_call' })).run_id;
      } catch (err) {
        fail(err.message);
        return;
      }
      $('#demo-run').replaceChildren('Run ', runLink(runId));
      source = new EventSource(`/runs/${runId}/events`);
      source.addEventListener('message', async (m) => {
        const event = JSON.parse(m.data);
        const replay = event.replay_seq || 0;
        if (step === 1 && replay === 0 && event.type === 'run.attempt_failed') {
          mark(1, 'done', since(), event.error);
          next(2);
        } else if (step === 2 && !replaying && replay === 0 && event.type === 'run.failed') {
          replaying = true; // the DLQ read and the replay are under way: later events must not start them again
          try {
            const record = await api('GET', `/runs/${runId}/dlq`);
            mark(2, 'done', since(), `${record.attempts}/${record.max_attempts} attempts · ${record.error}`);
            next(3);
            const answer = await api('POST', `/runs/${runId}/replay`, { fail_at: null });
            mark(3, 'done', since(), `replay ${answer.seq} · fail_at cleared`);
            next(4);
            succeed();
          } catch (err) {
            fail(err.message);
          }
        } else if (replay >= 1 && event.type === 'run.succeeded') {
          // It may arrive before the replay's answer does: step 4 then finds it.
          succeeded = replay;
          succeed();
        } else if (event.type === 'run.failed' && replay >= 1) {
          fail('the replay failed');
        }
      });
    });
  }

  const pages = { runs: runsPage, run: runPage, start: startPage, dlq: dlqPage, demo: demoPage };
  const page = pages[document.body.dataset.page];
  if (page) page();
})();
