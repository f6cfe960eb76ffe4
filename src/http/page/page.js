// hostloc's analyst page: a client of the API (POST /v1/lookup) and nothing more.
//
// It reads the pasted reports, one per line, sends them in chunks within the server's limits
// and in order, and draws one row per report with the verdict, the action it calls for in words,
// and the evidence. The evidence is the server's own record of the same lookup (`evidence=true`,
// the text of `hostloc lookup --evidence`), shown and copied as it comes: no evidence is worded
// here. It never decides a verdict itself, never writes a report to browser storage or to the
// page's address, and never makes anything in a result clickable. Every element is built with
// the DOM (the Content-Security-Policy forbids writing HTML from strings).
'use strict';

(() => {
  const settings = document.body.dataset;
  const maxBatchUrls = positive(settings.maxBatchUrls, 1000);
  const concurrency = positive(settings.concurrency, 64);
  const maxBodyBytes = positive(settings.maxBodyBytes, 1024 * 1024);
  // One chunk is looked up in one wave of the server's concurrent lookups, so that a request
  // ends within a few DNS timeouts, far from the request timeout.
  const chunkSize = Math.max(1, Math.min(maxBatchUrls, concurrency));
  // Room for `{"urls":[]}` and the JSON of each URL, with a margin.
  const bodyBudget = Math.max(256, maxBodyBytes - 64);
  const retriesWhenBusy = 5;

  const VERDICTS = [
    ['domestic', 'domestic'],
    ['partly_domestic', 'partly domestic'],
    ['foreign', 'foreign'],
    ['behind_cdn', 'behind CDN'],
    ['unresolved', 'unresolved'],
    ['not_public', 'not public'],
    ['unknown', 'unknown'],
    ['invalid', 'invalid'],
  ];
  const VERDICT_LABELS = new Map(VERDICTS);

  const page = {
    reports: byId('reports'),
    lookup: byId('lookup'),
    download: byId('download'),
    clear: byId('clear'),
    tokenBox: byId('token-box'),
    token: byId('token'),
    tokenState: byId('token-state'),
    forgetToken: byId('forget-token'),
    progressBox: byId('progress-box'),
    progress: byId('progress'),
    progressText: byId('progress-text'),
    status: byId('status'),
    summary: byId('summary'),
    table: byId('results'),
    rows: byId('rows'),
  };

  // The API token lives here only, for the life of the page.
  let token = null;
  // The reports of the last complete lookup: what "Download CSV" looks up again.
  let lookedUp = [];
  let busy = false;

  page.lookup.addEventListener('click', () => lookUp());
  page.download.addEventListener('click', () => downloadCsv());
  page.clear.addEventListener('click', () => clearAll());
  page.forgetToken.addEventListener('click', () => forgetToken());
  page.reports.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      lookUp();
    }
  });
  page.token.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') {
      event.preventDefault();
      lookUp();
    }
  });

  // ------------------------------------------------------------------------------------------
  // The flow

  async function lookUp() {
    if (busy) {
      return;
    }
    takeToken();
    const reports = reportsIn(page.reports.value);
    if (reports.length === 0) {
      say('Paste at least one reported URL, one per line.', true);
      page.reports.focus();
      return;
    }
    // The download is of the list on screen: none until this one is complete.
    lookedUp = [];
    setBusy(true);
    resetResults();
    const results = [];
    try {
      await inChunks(reports, 'json', 'Looking up', (answer) => {
        answer.results.forEach((report, index) => {
          results.push(report);
          drawRow(results.length, report, answer.evidence[index]);
        });
        drawSummary(results);
      });
      lookedUp = reports;
      page.download.disabled = false;
      say(`Done: ${count(results.length, 'report')} looked up.`);
    } catch (failure) {
      explain(failure, results.length, reports.length);
    } finally {
      hideProgress();
      setBusy(false);
    }
  }

  async function downloadCsv() {
    if (busy || lookedUp.length === 0) {
      return;
    }
    takeToken();
    setBusy(true);
    const parts = [];
    try {
      await inChunks(lookedUp, 'csv', 'Preparing the CSV', (text) => {
        // Every chunk starts with the same header line; keep the first one only.
        parts.push(parts.length === 0 ? text : text.slice(text.indexOf('\n') + 1));
      });
      const blob = new Blob(parts, { type: 'text/csv' });
      const link = document.createElement('a');
      link.href = URL.createObjectURL(blob);
      link.download = `hostloc-${timestamp()}.csv`;
      link.className = 'offscreen';
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 60000);
      say(`Downloaded ${link.download}: ${count(lookedUp.length, 'report')}, looked up again just now.`);
    } catch (failure) {
      explain(failure, 0, lookedUp.length, 'The CSV was not saved');
    } finally {
      hideProgress();
      setBusy(false);
    }
  }

  function clearAll() {
    if (busy) {
      return;
    }
    page.reports.value = '';
    lookedUp = [];
    page.download.disabled = true;
    resetResults();
    say('');
    page.reports.focus();
  }

  // The reports in the box: every line with something on it, as it is.
  function reportsIn(text) {
    return text.split(/\r\n|\r|\n/).filter((line) => line.trim() !== '');
  }

  // Sends `reports` in order, chunk after chunk, handing each answer to `receive`.
  async function inChunks(reports, format, doing, receive) {
    const chunks = chunked(reports);
    let done = 0;
    showProgress(doing, done, reports.length);
    for (const chunk of chunks) {
      const answer = await post(chunk, format);
      if (format === 'json' && !(answered(answer.results, chunk) && answered(answer.evidence, chunk))) {
        throw new ApiFailure(0, 'the server answered with the wrong number of results');
      }
      receive(answer);
      done += chunk.length;
      showProgress(doing, done, reports.length);
    }
  }

  // Whether `list` has one entry per report of `chunk`.
  function answered(list, chunk) {
    return Array.isArray(list) && list.length === chunk.length;
  }

  // Chunks of at most `chunkSize` reports whose request body stays within the server's limit.
  function chunked(reports) {
    const encoder = new TextEncoder();
    const chunks = [];
    let chunk = [];
    let bytes = 0;
    for (const report of reports) {
      const size = encoder.encode(JSON.stringify(report)).length + 1;
      if (chunk.length > 0 && (chunk.length >= chunkSize || bytes + size > bodyBudget)) {
        chunks.push(chunk);
        chunk = [];
        bytes = 0;
      }
      chunk.push(report);
      bytes += size;
    }
    if (chunk.length > 0) {
      chunks.push(chunk);
    }
    return chunks;
  }

  // One POST /v1/lookup: the results with their evidence records (JSON) or the CSV text. Waits
  // and retries when the server is at its limit of concurrent requests (503 with Retry-After).
  async function post(urls, format) {
    const headers = {
      'Content-Type': 'application/json',
      Accept: format === 'csv' ? 'text/csv' : 'application/json',
    };
    if (token !== null) {
      headers.Authorization = `Bearer ${token}`;
    }
    const path = format === 'csv' ? '/v1/lookup?format=csv' : '/v1/lookup?evidence=true';
    for (let attempt = 0; ; attempt += 1) {
      let response;
      try {
        response = await fetch(path, {
          method: 'POST',
          headers,
          body: JSON.stringify({ urls }),
          cache: 'no-store',
          credentials: 'omit',
          redirect: 'error',
          referrerPolicy: 'no-referrer',
        });
      } catch (error) {
        throw new ApiFailure(0, 'the server cannot be reached (is hostloc serve still running?)');
      }
      if (response.status === 503 && attempt < retriesWhenBusy) {
        const seconds = positive(response.headers.get('Retry-After'), 1);
        await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
        continue;
      }
      if (response.ok) {
        try {
          return format === 'csv' ? await response.text() : await response.json();
        } catch (error) {
          throw new ApiFailure(response.status, 'the server\'s answer could not be read');
        }
      }
      let message = `${response.status} ${response.statusText}`;
      try {
        message = (await response.json()).error || message;
      } catch (error) {
        // Not a JSON error body; the status says enough.
      }
      throw new ApiFailure(response.status, message);
    }
  }

  function ApiFailure(status, message) {
    this.status = status;
    this.message = message;
  }

  function explain(failure, done, total, what) {
    if (failure instanceof ApiFailure && failure.status === 401) {
      const hadToken = token !== null;
      forgetToken(true);
      page.tokenBox.hidden = false;
      page.tokenState.textContent = hadToken
        ? 'The server did not accept this token. Enter it again; it is kept in this page\'s memory only.'
        : 'This server asks for its API token. It is kept in this page\'s memory only, until you close or reload the page.';
      say(hadToken
        ? 'The API token was not accepted. Enter the right one and press Look up.'
        : 'This server needs its API token: enter it above and press Look up.', true);
      page.token.focus();
      return;
    }
    const where = done > 0 ? ` after ${done} of ${total} reports` : '';
    const message = failure instanceof ApiFailure ? failure.message : String(failure);
    say(`${what || 'Stopped'}${where}: ${message}. Press the button again to retry.`, true);
  }

  // ------------------------------------------------------------------------------------------
  // The token

  function takeToken() {
    const entered = page.token.value.trim();
    if (entered !== '') {
      token = entered;
      page.token.value = '';
      page.tokenState.textContent = 'Token set for this page, in memory only.';
      page.forgetToken.hidden = false;
    }
  }

  function forgetToken(quietly) {
    token = null;
    page.token.value = '';
    page.forgetToken.hidden = true;
    if (!quietly) {
      page.tokenState.textContent = 'Token forgotten. Enter it again when the server asks for it.';
      page.token.focus();
    }
  }

  // ------------------------------------------------------------------------------------------
  // Drawing

  function setBusy(on) {
    busy = on;
    page.lookup.disabled = on;
    page.clear.disabled = on;
    page.download.disabled = on || lookedUp.length === 0;
    page.lookup.textContent = on ? 'Working…' : 'Look up';
  }

  function say(text, problem) {
    page.status.textContent = text;
    page.status.classList.toggle('problem', Boolean(problem));
  }

  function showProgress(doing, done, total) {
    page.progressBox.hidden = false;
    page.progress.max = total;
    page.progress.value = done;
    page.progressText.textContent = `${doing}: ${done} of ${total}`;
  }

  function hideProgress() {
    page.progressBox.hidden = true;
  }

  function resetResults() {
    page.rows.replaceChildren();
    page.table.hidden = true;
    page.summary.replaceChildren();
    page.summary.hidden = true;
  }

  function drawSummary(results) {
    const counts = new Map();
    for (const report of results) {
      counts.set(report.verdict, (counts.get(report.verdict) || 0) + 1);
    }
    const items = [el('span', { text: `${count(results.length, 'report')}:` })];
    for (const [verdict] of VERDICTS) {
      if (counts.has(verdict)) {
        items.push(el('span', { className: 'count', data: { verdict } }, [
          badge(verdict),
          el('span', { text: String(counts.get(verdict)) }),
        ]));
      }
    }
    page.summary.replaceChildren(...items);
    page.summary.hidden = false;
  }

  // One row; `evidence` is the server's evidence record of this very result.
  function drawRow(number, report, evidence) {
    const evidenceId = `evidence-${number}`;
    const show = el('button', {
      type: 'button',
      className: 'small show',
      text: 'Show',
      attributes: { 'aria-expanded': 'false', 'aria-controls': evidenceId },
      label: `Show the evidence of report ${number}`,
    });
    const copy = el('button', {
      type: 'button',
      className: 'small copy',
      text: 'Copy evidence',
      label: `Copy the evidence of report ${number}`,
    });
    const row = el('tr', { className: 'result', data: { verdict: report.verdict, number: String(number) } }, [
      cell('#', 'number', [text(String(number))]),
      cell('Report', 'input mono', [text(report.input)]),
      cell('Host', 'host mono', [known(report.host)]),
      cell('Verdict and action', 'verdict', [
        badge(report.verdict),
        el('div', { className: 'action', text: action(report) }),
      ]),
      cell('Countries', 'countries', [
        report.countries.length ? text(report.countries.join(', ')) : known(null),
      ]),
      cell('Addresses', 'addresses', [addressList(report.addresses)]),
      cell('Reason', 'reason', [
        text(report.reason),
        ...(report.warnings || []).map((warning) => el('div', { className: 'warning', text: `Warning: ${warning}` })),
      ]),
      cell('Evidence', 'tools', [el('div', { className: 'buttons' }, [show, copy])]),
    ]);
    const details = el('tr', { className: 'evidence', id: evidenceId, hidden: true }, [
      el('td', { attributes: { colspan: '8' } }, [
        el('pre', { className: 'evidence-text', text: evidence }),
      ]),
    ]);
    show.addEventListener('click', () => {
      const open = details.hidden;
      details.hidden = !open;
      row.classList.toggle('open', open);
      show.setAttribute('aria-expanded', String(open));
      show.textContent = open ? 'Hide' : 'Show';
    });
    copy.addEventListener('click', async () => {
      const copied = await copyText(evidence);
      copy.textContent = copied ? 'Copied' : 'Copy failed';
      say(copied
        ? `The evidence of report ${number} is on the clipboard.`
        : `The evidence of report ${number} could not be copied: press Show and select it.`, !copied);
      setTimeout(() => { copy.textContent = 'Copy evidence'; }, 2000);
    });
    page.rows.append(row, details);
    page.table.hidden = false;
  }

  function cell(label, className, children) {
    return el('td', { className, data: { label } }, children);
  }

  function badge(verdict) {
    return el('span', { className: `badge ${verdict}`, text: VERDICT_LABELS.get(verdict) || verdict });
  }

  function addressList(addresses) {
    if (addresses.length === 0) {
      return known(null);
    }
    return el('ul', { className: 'addresses' }, addresses.map((address) => {
      const parts = [];
      if (!address.public) {
        parts.push(`not public${address.special_purpose ? ` (${address.special_purpose})` : ''}`);
      } else {
        parts.push(address.country || 'no country');
      }
      if (address.asn != null) {
        parts.push(`AS${address.asn}${address.as_org ? ` ${address.as_org}` : ''}`);
      } else if (address.public) {
        parts.push('no AS data');
      }
      const item = el('li', {}, [
        el('span', { className: 'mono', text: address.ip }),
        text(` · ${parts.join(' · ')}`),
      ]);
      if (address.cdn) {
        item.append(el('span', { className: 'cdn', text: `CDN: ${address.cdn}` }));
      }
      return item;
    }));
  }

  // ------------------------------------------------------------------------------------------
  // What the result means, in words (from the result's own fields; nothing is decided here)

  function action(report) {
    switch (report.verdict) {
      case 'domestic':
        return 'refer to police';
      case 'partly_domestic': {
        const forward = forwarding(report);
        return forward ? `refer to police; also ${forward}` : 'refer to police';
      }
      case 'foreign':
        return forwarding(report) || 'forward to the hotline of the hosting country';
      case 'behind_cdn':
        return `ask ${report.cdn_providers.length ? report.cdn_providers.join(' and ') : 'the CDN'} for the origin`;
      case 'unresolved':
        return 'cannot resolve — retry';
      case 'invalid':
        return 'invalid';
      case 'not_public':
        return 'nothing to refer: not on the public internet';
      case 'unknown':
        return 'no country data — investigate';
      default:
        return report.verdict;
    }
  }

  // "forward to <hotline> (<country>)" from `forward_to` when the server gives it, else to the
  // hotline of each country outside the jurisdiction.
  function forwarding(report) {
    if (Array.isArray(report.forward_to)) {
      return report.forward_to.map((entry) => {
        const hotlines = (entry.hotlines || []).map(hotlineName);
        // The note (in the evidence) says why there is none.
        return hotlines.length > 0
          ? `forward to ${orList(hotlines)} (${entry.country})`
          : `no hotline to forward to in ${entry.country}`;
      }).join('; ');
    }
    const elsewhere = report.countries.filter((country) => country !== report.jurisdiction);
    return elsewhere.map((country) => `forward to the hotline of ${country}`).join('; ');
  }

  // ------------------------------------------------------------------------------------------
  // Small helpers

  async function copyText(value) {
    try {
      await navigator.clipboard.writeText(value);
      return true;
    } catch (error) {
      // No clipboard API here (e.g. not a secure context): copy through a selection.
      const area = el('textarea', { className: 'offscreen', attributes: { readonly: '' } });
      area.value = value;
      document.body.append(area);
      area.select();
      let copied = false;
      try {
        copied = document.execCommand('copy');
      } catch (ignored) {
        copied = false;
      }
      area.remove();
      return copied;
    }
  }

  function el(tag, options, children) {
    const element = document.createElement(tag);
    const { className, text: content, data, attributes, id, hidden, type, label } = options || {};
    if (className) {
      element.className = className;
    }
    if (content !== undefined) {
      element.textContent = content;
    }
    if (id) {
      element.id = id;
    }
    if (hidden) {
      element.hidden = true;
    }
    if (type) {
      element.type = type;
    }
    if (label) {
      element.setAttribute('aria-label', label);
    }
    for (const [key, value] of Object.entries(data || {})) {
      element.dataset[key] = value;
    }
    for (const [key, value] of Object.entries(attributes || {})) {
      element.setAttribute(key, value);
    }
    if (children) {
      element.append(...children);
    }
    return element;
  }

  function text(value) {
    return document.createTextNode(value);
  }

  function known(value) {
    return value == null ? el('span', { className: 'none', text: '—', label: 'none' }) : text(value);
  }

  // A hotline's name; the hotline table may know a country's member hotline only by its ICCAM
  // id (its name is null then).
  function hotlineName(hotline) {
    if (hotline.name != null) {
      return hotline.name;
    }
    return hotline.iccam_id != null
      ? `the hotline with ICCAM id ${hotline.iccam_id}`
      : 'the member hotline';
  }

  function orList(names) {
    return names.length < 2 ? names.join('') : `${names.slice(0, -1).join(', ')} or ${names[names.length - 1]}`;
  }

  function count(n, noun) {
    return `${n} ${noun}${n === 1 ? '' : 's'}`;
  }

  function positive(value, fallback) {
    const number = Number(value);
    return Number.isInteger(number) && number > 0 ? number : fallback;
  }

  function timestamp() {
    const now = new Date();
    const pad = (n) => String(n).padStart(2, '0');
    return `${now.getFullYear()}${pad(now.getMonth() + 1)}${pad(now.getDate())}-${pad(now.getHours())}${pad(now.getMinutes())}${pad(now.getSeconds())}`;
  }

  function byId(id) {
    return document.getElementById(id);
  }
})();
