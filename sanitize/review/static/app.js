// The review page: plain JS over the JSON API of `sanitize review` (no build step, no
// network beyond this server). The page only edits decisions; every pixel it shows is
// rendered by the server. Boxes are [x0, y0, x1, y1] in the upright picture's pixels.
'use strict';
(() => {
  const TOKEN_KEY = 'sanitize-review-token';
  const LANG_KEY = 'sanitize-review-lang';
  const SVG_NS = 'http://www.w3.org/2000/svg';
  const $ = (sel) => document.querySelector(sel);
  const $$ = (sel) => Array.from(document.querySelectorAll(sel));

  // The token arrives once in the URL; keep it for this tab only and drop it from the
  // address bar so it does not end up in history or a screenshot.
  function takeToken() {
    const url = new URL(window.location.href);
    const fromUrl = url.searchParams.get('token');
    if (fromUrl) {
      sessionStorage.setItem(TOKEN_KEY, fromUrl);
      url.searchParams.delete('token');
      history.replaceState(null, '', url.pathname + url.search + url.hash);
    }
    return sessionStorage.getItem(TOKEN_KEY) || '';
  }
  const token = takeToken();

  const S = {
    lang: localStorage.getItem(LANG_KEY) === 'hi' ? 'hi' : 'en',
    files: [], filter: null, fileId: null, detail: null,
    view: 'edit', frame: 0, selected: null, pending: null, drag: null,
    markIn: null, markOut: null, keyframes: [], frameSeq: 0, frameUrl: null,
  };

  // ---- strings -------------------------------------------------------------------
  function t(key, vars) {
    const cat = window.I18N || {};
    let s = (cat[S.lang] && cat[S.lang][key]) || (cat.en && cat.en[key]) || key;
    for (const [k, v] of Object.entries(vars || {})) s = s.replace(`{${k}}`, String(v));
    return s;
  }
  const kindName = (k) => {
    const s = t(`kind_${k}`);
    return s === `kind_${k}` ? String(k).replace(/_/g, ' ') : s;
  };
  // Metadata classes (gps, iptc, ...): named in Hindi where a word exists; English
  // keeps the class names the reports and the CSV use.
  const metaName = (c) => {
    const s = t(`meta_${c}`);
    return s === `meta_${c}` ? String(c) : s;
  };
  const kindsName = (k, n) => {
    const s = n === 1 ? kindName(k) : t(`kinds_${k}`);
    return s === `kinds_${k}` ? kindName(k) : s;
  };

  // Why a file went where it went, in the page's language, from the server's items
  // (sanitize/summary.py says the same in English for reports); its English line for
  // a server that sends no items.
  function whyText(item) {
    const parts = item && item.why_parts;
    if (!Array.isArray(parts)) return (item && item.why) || '';
    return [...new Set(parts.map(whyPart).filter(Boolean))].join(' · ');
  }
  function whyPart(p) {
    const conf = (v) => Number(v).toFixed(2);
    switch (p.key) {
      case 'masked':
        return t(p.low ? 'why_masked_low' : 'why_masked', { n: p.n, kind: kindsName(p.kind, p.n), low: p.low });
      case 'flag':
        return p.n === 1 ? t('why_flag', { kind: kindName(p.kind), conf: conf(p.max) })
          : t('why_flags', { n: p.n, kind: kindName(p.kind), conf: conf(p.max) });
      case 'flag_masked': return t('why_flag_masked', { kind: kindName(p.kind) });
      case 'metadata': return t('why_metadata', { name: p.name });
      case 'removed': return t('why_removed', { list: (p.classes || []).map(metaName).join(', ') });
      case 'officers': return t('why_officers', { n: p.n });
      case 'approved': return t('why_approved', { by: p.by });
      case 'error': return String(p.text || '');
      default: return t('why_nothing');
    }
  }

  function applyStatic() {
    document.documentElement.lang = S.lang;
    document.title = t('title');
    for (const el of $$('[data-i18n]')) el.textContent = t(el.dataset.i18n);
    $('#lang').textContent = t('lang_switch');
    for (const b of $$('[data-view]')) b.textContent = t(`view_${b.dataset.view}`);
    $('#view-hint').textContent = t(`hint_${S.view}`);
  }

  // ---- DOM helper: text only, never innerHTML with data --------------------------
  function h(tag, props, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = v;
      else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    for (const kid of kids.flat()) {
      if (kid === null || kid === undefined || kid === false) continue;
      el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
    return el;
  }
  function svg(tag, attrs) {
    const el = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
    return el;
  }

  let toastTimer = null;
  function toast(msg, isError) {
    const el = $('#toast');
    el.textContent = msg;
    el.className = isError ? 'toast error' : 'toast';
    el.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { el.hidden = true; }, isError ? 8000 : 3000);
  }

  // ---- API ---------------------------------------------------------------------------
  async function api(method, path, body) {
    const opts = {
      method, credentials: 'same-origin',
      headers: { Authorization: `Bearer ${token}`, Accept: 'application/json' },
    };
    if (method !== 'GET') {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body || {});
    }
    let r;
    try { r = await fetch(path, opts); } catch (e) {
      toast(`${t('error')}: ${e.message}`, true);
      return { ok: false, status: 0, data: null };
    }
    let data = null;
    try { data = await r.json(); } catch (_e) { data = null; }
    if (!r.ok && !(r.status === 409 && path.endsWith('/approve'))) {
      const why = (data && (data.error || data.detail || data.message)) || r.statusText;
      toast(`${t('error')} ${r.status}: ${why}`, true);
    }
    return { ok: r.ok, status: r.status, data };
  }
  const fileUrl = (id, rest) => `/api/files/${encodeURIComponent(id)}${rest || ''}`;
  const frameUrl = (id, i, view) => fileUrl(id, `/frame?i=${i}&view=${view}`);

  // ---- queue -------------------------------------------------------------------------
  const inFilter = (f) => S.filter === 'all' || f.status === 'review';
  const visibleFiles = () => S.files.filter(inFilter);

  async function loadFiles() {
    const r = await api('GET', '/api/files');
    if (!r.ok) return;
    S.files = (r.data && r.data.files) || [];
    if (S.filter === null) S.filter = S.files.some((f) => f.status === 'review') ? 'review' : 'all';
    renderQueue();
  }

  // Thumbnails are fetched with the token header like every other /api/ call (an <img src>
  // could only use the cookie), only when they scroll into view, and kept per file state.
  const thumbCache = new Map();
  const thumbs = new IntersectionObserver((entries) => {
    for (const e of entries) {
      if (!e.isIntersecting) continue;
      thumbs.unobserve(e.target);
      loadThumb(e.target);
    }
  });
  async function loadThumb(img) {
    const key = img.dataset.key;
    if (!thumbCache.has(key)) {
      const id = img.dataset.thumb;
      thumbCache.set(key, fetch(`${frameUrl(id, 0, 'output')}&thumb=1`, {
        headers: { Authorization: `Bearer ${token}` }, credentials: 'same-origin',
      }).then((r) => (r.ok ? r.blob() : null)).then((b) => (b ? URL.createObjectURL(b) : null))
        .catch(() => null));
    }
    const url = await thumbCache.get(key);
    if (url) img.src = url; else img.classList.add('none');
  }

  function renderQueue() {
    const counts = { review: S.files.filter((f) => f.status === 'review').length, all: S.files.length };
    for (const b of $$('[data-filter]')) {
      b.textContent = `${t(`filter_${b.dataset.filter}`)} (${counts[b.dataset.filter]})`;
      b.setAttribute('aria-selected', String(b.dataset.filter === S.filter));
    }
    const list = $('#queue-list');
    list.replaceChildren();
    const files = visibleFiles();
    if (!files.length) list.append(h('li', { class: 'muted empty', text: t('no_files') }));
    for (const f of files) {
      const thumb = h('img', { class: 'thumb', alt: '', 'data-thumb': f.id });
      thumb.dataset.key = `${f.id}\n${f.status}\n${f.output || ''}`;
      thumbs.observe(thumb);
      list.append(h('li', {
        class: `qitem${f.id === S.fileId ? ' current' : ''}`, 'data-file': f.id,
        'data-status': f.status, tabindex: 0, onclick: () => openFile(f.id),
      },
      thumb,
      h('div', { class: 'qtext' },
        h('div', { class: 'qname', title: f.input, text: f.input }),
        h('div', { class: 'qwhy', title: whyText(f), text: whyText(f) }),
        h('div', { class: 'qmeta' },
          h('span', { class: `badge st-${f.status}`, text: t(`status_${f.status}`) }),
          f.approving ? h('span', { class: 'badge approving', text: t('approving_badge') }) : null,
          f.open ? h('span', { class: 'badge open', text: t('open_n', { n: f.open }) }) : null))));
    }
    const cur = list.querySelector('.current');
    if (cur) cur.scrollIntoView({ block: 'nearest' });
  }

  function moveFile(delta) {
    const files = visibleFiles();
    if (!files.length) return;
    let i = files.findIndex((f) => f.id === S.fileId);
    i = i < 0 ? 0 : Math.min(files.length - 1, Math.max(0, i + delta));
    openFile(files[i].id);
  }

  // ---- one file ----------------------------------------------------------------------
  async function openFile(id) {
    if (S.fileId !== id) {
      S.frame = 0; S.selected = null; S.pending = null; S.keyframes = [];
      S.markIn = null; S.markOut = null; S.frameChosen = false; S.detail = null;
      // Never show the previous file's picture under this file's boxes.
      S.frameSeq += 1;
      $('#frame').hidden = true;
      $('#frame').removeAttribute('src');
      $('#overlay').replaceChildren();
      S.fileId = id;
      renderFile(); // empty until the new file's detail arrives: no stale buttons
    }
    S.fileId = id;
    renderQueue();
    await loadDetail();
  }

  async function loadDetail() {
    if (!S.fileId) return renderFile();
    const id = S.fileId;
    const r = await api('GET', fileUrl(id));
    if (S.fileId !== id) return undefined; // another file was opened meanwhile
    if (!r.ok) { S.detail = null; return renderFile(); }
    S.detail = r.data;
    if (S.detail.kind === 'video' && S.frame === 0 && !S.frameChosen) S.frame = firstFlaggedFrame();
    renderFile();
  }

  const isVideo = () => !!S.detail && S.detail.kind === 'video';
  const frameTimes = () => (S.detail && Array.isArray(S.detail.frame_times) ? S.detail.frame_times : []);
  const fps = () => {
    const d = S.detail || {};
    if (d.fps) return d.fps;
    if (d.frames && d.duration) return d.frames / d.duration;
    return 25;
  };
  const frameCount = () => {
    const d = S.detail || {};
    if (!isVideo()) return 1;
    return d.frames || frameTimes().length || Math.max(1, Math.round((d.duration || 0) * fps()));
  };
  // Times come from the server's own decode (frame_times), so a frame index and its time
  // are exactly those the renderer uses; a constant rate is only the fallback.
  const frameTime = (i) => {
    if (!isVideo()) return 0;
    const ts = frameTimes();
    return ts.length ? ts[Math.min(ts.length - 1, Math.max(0, i))] : i / fps();
  };
  function frameAt(tm) {
    const ts = frameTimes();
    if (!ts.length) return Math.round(tm * fps());
    let lo = 0; let hi = ts.length - 1;
    while (lo < hi) { const mid = (lo + hi + 1) >> 1; if (ts[mid] <= tm + 1e-6) lo = mid; else hi = mid - 1; }
    return lo;
  }
  const fmt = (x) => (x === null || x === undefined ? '–' : Number(x).toFixed(2));

  function firstFlaggedFrame() {
    const times = (S.detail.flags || []).filter((f) => f.state === 'open' && f.t_start != null)
      .map((f) => f.t_start);
    return times.length ? frameAt(Math.min(...times)) : 0;
  }

  // A region or flag is on the current frame when the frame's time is inside its range
  // (pictures have no range). Keyframed regions are interpolated like the renderer does.
  function boxAt(item, tNow, isRegion) {
    if (!isVideo()) return item.box || null;
    if (isRegion && S.frameBoxes && S.frameBoxes.frame === S.frame) {
      return S.frameBoxes.boxes.get(item.id) || null;
    }
    if (item.t_start != null && tNow < item.t_start - 1e-6) return null;
    if (item.t_end != null && tNow > item.t_end + 1e-6) return null;
    const kf = item.keyframes;
    if (Array.isArray(kf) && kf.length) return betweenKeyframes(kf, tNow);
    return item.box || null;
  }

  // A box at time tNow from [{t, box}]: linear between keyframes, held before and after
  // (as the renderer does).
  function betweenKeyframes(kf, tNow) {
    const ks = kf.slice().sort((a, b) => a.t - b.t);
    if (tNow <= ks[0].t) return ks[0].box;
    for (let k = 1; k < ks.length; k += 1) {
      if (tNow <= ks[k].t) {
        const a = ks[k - 1]; const b = ks[k];
        const w = (tNow - a.t) / Math.max(1e-9, b.t - a.t);
        return a.box.map((v, j) => v + (b.box[j] - v) * w);
      }
    }
    return ks[ks.length - 1].box;
  }

  function openItems() {
    if (!S.detail) return [];
    const flags = (S.detail.flags || []).filter((f) => f.state === 'open')
      .map((f) => ({ type: 'flag', id: f.id, item: f }));
    const sugg = (S.detail.regions || []).filter((r) => r.suggested === 'keep' && r.action !== 'keep')
      .map((r) => ({ type: 'region', id: r.id, item: r }));
    return flags.concat(sugg);
  }

  function renderFile() {
    const d = S.detail;
    const head = $('#file-head');
    head.replaceChildren();
    const hasFile = !!d;
    for (const id of ['#approve', '#reject', '#undo', '#keep-officers']) $(id).disabled = !hasFile;
    if (!d) {
      $('#stage-empty').textContent = t('no_file');
      $('#frame-wrap').hidden = true;
      for (const id of ['#flags', '#regions', '#history', '#mutes']) $(id).replaceChildren();
      $('#video-bar').hidden = true;
      return;
    }
    $('#stage-empty').textContent = '';
    $('#frame-wrap').hidden = false;
    head.append(...[
      h('h2', { class: 'fname', text: d.input }),
      h('span', { class: `badge st-${d.status}`, text: t(`status_${d.status}`) }),
      d.approving ? h('span', { class: 'badge approving', text: t('approving_badge') }) : null,
      h('span', { class: 'muted', text: [d.width && `${d.width}×${d.height}`,
        isVideo() && `${fmt(d.duration)} s`, d.output].filter(Boolean).join(' · ') }),
    ].filter(Boolean));
    const why = whyText(d) || whyText(S.files.find((f) => f.id === S.fileId));
    if (why) head.append(h('div', { class: 'fwhy', text: why }));
    if (d.error) head.append(h('div', { class: 'fwhy error', text: d.error }));
    if (d.rejected) head.append(h('div', { class: 'fwhy error', text: `${t('rejected')} ${d.rejected}` }));
    if (d.approval_refused && !d.approving) {
      // Said again after a restart of the server, when the toast is long gone.
      const r = d.approval_refused;
      const more = (r.problems || []).length ? ` (${r.problems.join('; ')})` : '';
      head.append(h('div', { class: 'fwhy error', text: `${t('approval_refused_by', { by: r.by })} · ${when_(r.time)}: ${r.reason}${more}` }));
    }
    if (d.approved && !String(why || '').includes('approved by')) {
      head.append(h('div', { class: 'fwhy ok', text: `${t('approved_by', { by: d.approved.by })} · ${when_(d.approved.time)}` }));
    }
    $('#undo').disabled = d.can_undo === false;
    $('#approve').disabled = d.reviewable === false;
    $('#video-bar').hidden = !isVideo();
    $('#video-box-opts').hidden = !isVideo();
    $('#mutes-section').hidden = !isVideo();
    renderViews();
    renderFlags();
    renderRegions();
    renderMutes();
    renderHistory();
    renderVideoBar();
    renderPending();
    loadFrame();
  }

  function renderViews() {
    for (const b of $$('[data-view]')) b.setAttribute('aria-selected', String(b.dataset.view === S.view));
    $('#view-hint').textContent = t(`hint_${S.view}`);
  }

  async function loadFrame() {
    if (!S.detail) return;
    const seq = ++S.frameSeq;
    const img = $('#frame');
    const url = frameUrl(S.fileId, isVideo() ? S.frame : 0, S.view);
    let blob = null;
    let status = 0;
    try {
      const r = await fetch(url, { headers: { Authorization: `Bearer ${token}` }, credentials: 'same-origin' });
      status = r.status;
      if (r.ok) blob = await r.blob();
    } catch (_e) { blob = null; }
    if (seq !== S.frameSeq) return; // a newer frame was asked for meanwhile
    if (status === 403 && S.view === 'edit') {
      // The server shows the original only on a loopback address: preview instead.
      S.view = 'preview';
      renderViews();
      loadFrame();
      return;
    }
    if (isVideo()) {
      const frame = S.frame;
      const r = await api('GET', fileUrl(S.fileId, `/boxes?i=${frame}`));
      if (seq !== S.frameSeq) return;
      const boxes = new Map();
      for (const b of (r.ok && r.data && r.data.boxes) || []) {
        const cur = boxes.get(b.id);
        // A region may have several masked boxes on a frame; outline their union.
        boxes.set(b.id, cur ? [Math.min(cur[0], b.box[0]), Math.min(cur[1], b.box[1]),
          Math.max(cur[2], b.box[2]), Math.max(cur[3], b.box[3])] : b.box);
      }
      S.frameBoxes = { frame, boxes };
    }
    if (S.frameUrl) URL.revokeObjectURL(S.frameUrl);
    S.frameUrl = blob ? URL.createObjectURL(blob) : null;
    $('#stage-empty').textContent = blob ? '' : t('frame_missing');
    img.hidden = !blob;
    if (blob) {
      img.onload = () => renderOverlay();
      img.src = S.frameUrl;
    } else {
      img.removeAttribute('src');
    }
    renderOverlay();
  }

  // Source-pixel size of the picture: what the boxes are measured in.
  function sourceSize() {
    const img = $('#frame');
    const d = S.detail || {};
    return [d.width || img.naturalWidth || 1, d.height || img.naturalHeight || 1];
  }

  function renderOverlay() {
    const ov = $('#overlay');
    ov.replaceChildren();
    if (!S.detail) return;
    const [W, H] = sourceSize();
    ov.setAttribute('viewBox', `0 0 ${W} ${H}`);
    const wrap = $('#frame-wrap');
    wrap.style.setProperty('--ar', String(W / H));
    wrap.style.setProperty('--reserve', isVideo() ? '380px' : '250px');
    const shown = $('#frame').getBoundingClientRect().width || W;
    const px = W / shown; // source pixels per screen pixel
    const tNow = frameTime(S.frame);
    // The edit view comes with the server's own outlines: draw ours invisibly there (they
    // still carry labels and the selection), visibly on preview and output.
    const ghost = S.view === 'edit' ? ' ghost' : '';
    const draw = (box, cls, label, data) => {
      const [x0, y0, x1, y1] = box;
      const g = svg('g', { class: cls, ...data });
      g.append(svg('rect', { x: x0, y: y0, width: Math.max(1, x1 - x0), height: Math.max(1, y1 - y0) }));
      if (label) {
        const tx = svg('text', { x: x0, y: Math.max(11 * px, y0 - 3 * px), 'font-size': 11 * px });
        tx.textContent = label;
        g.append(tx);
      }
      ov.append(g);
    };
    for (const f of S.detail.flags || []) {
      const box = boxAt(f, tNow);
      if (!box) continue;
      const sel = S.selected && S.selected.type === 'flag' && S.selected.id === f.id;
      draw(box, `flag st-${f.state}${sel ? ' selected' : ghost}`, sel ? kindName(f.kind) : '', { 'data-flag': f.id });
    }
    for (const r of S.detail.regions || []) {
      const box = boxAt(r, tNow, true);
      if (!box) continue;
      const sel = S.selected && S.selected.type === 'region' && S.selected.id === r.id;
      const sugg = r.suggested === 'keep' && r.action !== 'keep' ? ' suggested' : '';
      const manual = r.source === 'reviewer';
      const label = sel ? regionLabel(r) : '';
      // On preview/output the blur itself shows where a detected region is: outline
      // only what a person decided or should look at.
      const quiet = ghost || (r.action === 'blur' && !sugg && !manual ? ' ghost' : '');
      draw(box, `region ${r.action}${sugg}${manual ? ' added' : ''}${sel ? ' selected' : quiet}`, label, { 'data-region': r.id });
    }
    const editable = selectedDrawn();
    const drawn = editable && !(S.drag && S.drag.edit) && boxAt(editable, tNow);
    if (drawn) {
      // Corner handles: this box can be moved (drag inside) and resized (drag a corner or edge).
      const s = 7 * px;
      for (const [hx, hy] of [[drawn[0], drawn[1]], [drawn[2], drawn[1]], [drawn[0], drawn[3]], [drawn[2], drawn[3]]]) {
        ov.append(svg('rect', { class: 'handle', x: hx - s / 2, y: hy - s / 2, width: s, height: s }));
      }
    }
    if (S.pending) draw(S.pending.box, 'pending', kindName(currentKind()), {});
    for (const k of S.keyframes) {
      if (frameAt(k.t) === S.frame) draw(k.box, 'keyframe', '◆', {});
    }
    if (S.drag && S.drag.box) draw(S.drag.box, 'pending', '', {});
  }

  // "face officer?", "text (added)": the kind in the page's language, then whatever the
  // server's label adds to it.
  function regionLabel(r) {
    const bits = [kindName(r.kind)];
    let extra = String(r.label || '').trim();
    if (extra.toLowerCase().startsWith(String(r.kind).toLowerCase())) extra = extra.slice(String(r.kind).length).trim();
    if (extra === 'officer?' || (!extra && r.suggested === 'keep')) extra = t('suggested_keep');
    else if (extra === '(added)') extra = t('added');
    if (extra) bits.push(extra);
    return bits.join(' ');
  }

  // ---- drawing and selecting on the picture --------------------------------------------
  function toSource(ev) {
    const rect = $('#frame').getBoundingClientRect();
    const [W, H] = sourceSize();
    const x = ((ev.clientX - rect.left) * W) / rect.width;
    const y = ((ev.clientY - rect.top) * H) / rect.height;
    return [Math.min(W, Math.max(0, x)), Math.min(H, Math.max(0, y))];
  }

  // The selected region when a reviewer drew it (only those can be moved or resized).
  // Its box on a frame is boxAt(r, t) without the frame's grown boxes: as drawn, which
  // is where moving or resizing it starts.
  function selectedDrawn() {
    if (!S.detail || !S.selected || S.selected.type !== 'region') return null;
    return (S.detail.regions || []).find((r) => r.id === S.selected.id && r.source === 'reviewer') || null;
  }

  // The selected drawn box under the pointer, and which part of it: a corner or an edge
  // (within a few screen pixels) resizes, the inside moves. Detected boxes are never
  // edited: shrinking one could uncover a face; another box can always be drawn.
  function editTarget([x, y]) {
    const r = selectedDrawn();
    const b = r && boxAt(r, frameTime(S.frame));
    if (!b) return null;
    const rect = $('#frame').getBoundingClientRect();
    const tol = (8 * sourceSize()[0]) / Math.max(1, rect.width);
    if (x < b[0] - tol || x > b[2] + tol || y < b[1] - tol || y > b[3] + tol) return null;
    const near = (a, v) => Math.abs(a - v) <= tol;
    const part = (near(y, b[1]) ? 'n' : near(y, b[3]) ? 's' : '') + (near(x, b[0]) ? 'w' : near(x, b[2]) ? 'e' : '');
    return { region: r, box: b.slice(), part: part || 'move' };
  }
  const CURSORS = { move: 'move', n: 'ns-resize', s: 'ns-resize', e: 'ew-resize', w: 'ew-resize',
    nw: 'nwse-resize', se: 'nwse-resize', ne: 'nesw-resize', sw: 'nesw-resize' };

  function editedBox(edit, [ax, ay], [bx, by]) {
    const [W, H] = sourceSize();
    const dx = bx - ax; const dy = by - ay;
    let [x0, y0, x1, y1] = edit.box;
    if (edit.part === 'move') {
      const mx = Math.min(Math.max(dx, -x0), W - x1); const my = Math.min(Math.max(dy, -y0), H - y1);
      return [x0 + mx, y0 + my, x1 + mx, y1 + my].map(Math.round);
    }
    if (edit.part.includes('w')) x0 += dx;
    if (edit.part.includes('e')) x1 += dx;
    if (edit.part.includes('n')) y0 += dy;
    if (edit.part.includes('s')) y1 += dy;
    const clamp = (v, hi) => Math.min(hi, Math.max(0, v));
    return [Math.min(x0, x1), Math.min(y0, y1), Math.max(x0, x1), Math.max(y0, y1)]
      .map((v, j) => Math.round(clamp(v, j % 2 ? H : W)));
  }

  async function saveEdit(edit, box) {
    const body = { box };
    if (isVideo()) body.t = frameTime(S.frame);
    const r = await api('POST', fileUrl(S.fileId, `/regions/${encodeURIComponent(edit.region.id)}/box`), body);
    if (!r.ok) { renderOverlay(); return; }
    toast(t('saved'));
    await refresh();
    select({ type: 'region', id: edit.region.id });
  }

  function onPointerDown(ev) {
    if (!S.detail || ev.button !== 0) return;
    ev.preventDefault();
    $('#overlay').setPointerCapture(ev.pointerId);
    const start = toSource(ev);
    S.drag = { start, sx: ev.clientX, sy: ev.clientY, box: null, edit: editTarget(start) };
  }
  function onPointerMove(ev) {
    if (!S.drag) {
      const target = editTarget(toSource(ev));
      $('#overlay').style.cursor = target ? CURSORS[target.part] : '';
      return;
    }
    const moved = Math.hypot(ev.clientX - S.drag.sx, ev.clientY - S.drag.sy);
    if (moved < 4 && !S.drag.box) return;
    const [ax, ay] = S.drag.start;
    const [bx, by] = toSource(ev);
    S.drag.box = S.drag.edit ? editedBox(S.drag.edit, [ax, ay], [bx, by])
      : [Math.min(ax, bx), Math.min(ay, by), Math.max(ax, bx), Math.max(ay, by)].map(Math.round);
    renderOverlay();
  }
  function onPointerUp(ev) {
    if (!S.drag) return;
    const drag = S.drag;
    S.drag = null;
    if (!drag.box) { selectAt(toSource(ev)); return; }
    if (drag.edit) {
      const [x0, y0, x1, y1] = drag.box;
      if (x1 - x0 < 3 || y1 - y0 < 3) { toast(t('box_too_small'), true); renderOverlay(); return; }
      saveEdit(drag.edit, drag.box);
      return;
    }
    const [x0, y0, x1, y1] = drag.box;
    if (x1 - x0 < 3 || y1 - y0 < 3) { toast(t('box_too_small'), true); renderOverlay(); return; }
    S.pending = { box: drag.box, frame: S.frame };
    renderPending();
    renderOverlay();
  }

  // A click selects the smallest region or flag under the pointer on this frame.
  function selectAt([x, y]) {
    const tNow = frameTime(S.frame);
    let best = null;
    const consider = (type, item, isRegion) => {
      const b = boxAt(item, tNow, isRegion);
      if (!b || x < b[0] || x > b[2] || y < b[1] || y > b[3]) return;
      const area = (b[2] - b[0]) * (b[3] - b[1]);
      if (!best || area < best.area) best = { type, id: item.id, area };
    };
    for (const r of S.detail.regions || []) consider('region', r, true);
    for (const f of S.detail.flags || []) consider('flag', f);
    select(best ? { type: best.type, id: best.id } : null);
  }

  function select(sel) {
    S.selected = sel;
    for (const el of $$('.items li.selected')) el.classList.remove('selected');
    if (sel) {
      const row = document.querySelector(`.items li[data-${sel.type}="${CSS.escape(String(sel.id))}"]`);
      if (row) { row.classList.add('selected'); row.scrollIntoView({ block: 'nearest' }); }
    }
    renderOverlay();
  }

  const currentKind = () => (document.querySelector('input[name=kind]:checked') || {}).value || 'face';

  function renderPending() {
    const has = !!S.pending || S.keyframes.length > 0;
    $('#add-confirm').disabled = !has;
    $('#add-cancel').disabled = !has;
    $('#add-keyframe').disabled = !S.pending;
    $('#clear-keyframes').disabled = !S.keyframes.length;
    $('#keyframes-label').textContent = S.keyframes.length ? t('keyframes_n', { n: S.keyframes.length }) : '';
    if (isVideo() && S.pending) {
      const t0 = $('#box-t0'); const t1 = $('#box-t1');
      if (t0.value === '') t0.value = fmt(S.markIn != null ? S.markIn : frameTime(S.frame));
      if (t1.value === '') t1.value = fmt(S.markOut != null ? S.markOut : S.detail.duration);
    }
  }

  function cancelPending() {
    S.pending = null; S.keyframes = [];
    $('#box-t0').value = ''; $('#box-t1').value = '';
    renderPending(); renderOverlay();
  }

  async function addBox() {
    if (!S.detail || (!S.pending && !S.keyframes.length)) return;
    const body = { kind: currentKind() };
    if (isVideo()) {
      if (S.keyframes.length) {
        const ks = S.keyframes.slice().sort((a, b) => a.t - b.t);
        Object.assign(body, { box: ks[0].box, keyframes: ks, t_start: ks[0].t, t_end: ks[ks.length - 1].t });
      } else {
        const t0 = parseFloat($('#box-t0').value); const t1 = parseFloat($('#box-t1').value);
        Object.assign(body, {
          box: S.pending.box,
          t_start: Number.isFinite(t0) ? t0 : frameTime(S.pending.frame),
          t_end: Number.isFinite(t1) ? t1 : S.detail.duration,
        });
        body.t = frameTime(S.pending.frame);
        if ($('#box-track').checked) body.track = true;
      }
    } else {
      body.box = S.pending.box;
    }
    const r = await api('POST', fileUrl(S.fileId, '/regions'), body);
    if (!r.ok) return;
    cancelPending();
    toast(t('saved'));
    await refresh();
    if (r.data && r.data.id != null) select({ type: 'region', id: r.data.id });
  }

  // ---- reasons ---------------------------------------------------------------------------
  // Resolves to the reason text, or null if the reviewer cancelled.
  function askReason(title, presets) {
    const dlg = $('#reason-dialog');
    $('#reason-title').textContent = title;
    const input = $('#reason-text');
    input.value = '';
    const box = $('#reason-presets');
    box.replaceChildren();
    for (const key of presets) {
      box.append(h('button', {
        type: 'button', class: 'preset', 'data-preset': key, text: t(key),
        onclick: (ev) => {
          for (const b of box.querySelectorAll('.preset')) b.classList.toggle('chosen', b === ev.currentTarget);
          input.value = key === 'preset_other' ? '' : window.I18N.en[key];
          input.focus();
        },
      }));
    }
    return new Promise((resolve) => {
      const done = () => {
        dlg.removeEventListener('close', done);
        const text = input.value.trim();
        resolve(dlg.returnValue === 'ok' && text ? text : null);
        if (dlg.returnValue === 'ok' && !text) toast(t('reason_needed'), true);
      };
      dlg.addEventListener('close', done);
      dlg.returnValue = '';
      dlg.showModal();
      const first = box.querySelector('.preset');
      if (first) first.focus();
    });
  }

  // ---- decisions -------------------------------------------------------------------------
  async function refresh() {
    await Promise.all([loadFiles(), loadDetail()]);
  }

  async function setRegion(region, action) {
    let reason = '';
    if (action === 'keep') {
      reason = await askReason(t('reason_keep'), ['preset_officer', 'preset_public_figure', 'preset_other']);
      if (reason === null) return;
    }
    const r = await api('POST', fileUrl(S.fileId, `/regions/${encodeURIComponent(region.id)}`), { action, reason });
    if (r.ok) { toast(t('saved')); S.selected = { type: 'region', id: region.id }; await refresh(); }
  }

  async function keepOfficers() {
    const todo = (S.detail.regions || []).filter((r) => r.suggested === 'keep' && r.action !== 'keep');
    if (!todo.length) { toast(t('nothing_to_keep')); return; }
    const reason = await askReason(t('reason_keep_all', { n: todo.length }),
      ['preset_officer', 'preset_public_figure', 'preset_other']);
    if (reason === null) return;
    const res = await api('POST', fileUrl(S.fileId, '/officers'), { reason });
    if (res.ok) toast(t('saved'));
    await refresh();
  }

  // The reasons offered first fit the flag's kind (a uniform is usually an officer on
  // duty, a "weapon" often not one); "allowed" and free text are always there.
  const CLEAR_PRESETS = {
    weapon: ['preset_not_weapon', 'preset_sealed'],
    seized_items: ['preset_sealed', 'preset_not_seized'],
    uniform: ['preset_officers_duty', 'preset_not_uniform'],
    document: ['preset_not_document'],
  };
  function clearPresets(kind) {
    return [...(CLEAR_PRESETS[kind] || ['preset_not_weapon', 'preset_sealed']), 'preset_allowed', 'preset_other'];
  }

  async function resolveFlag(flag, state) {
    const presets = state === 'cleared' ? clearPresets(flag.kind) : ['preset_no_post', 'preset_other'];
    const reason = await askReason(t(state === 'cleared' ? 'reason_clear' : 'reason_confirm'), presets);
    if (reason === null) return;
    const r = await api('POST', fileUrl(S.fileId, `/flags/${encodeURIComponent(flag.id)}`), { state, reason });
    if (r.ok) { toast(t('saved')); await refresh(); }
  }

  // One reason for every open flag of a kind (e.g. 19 "uniform" flags on a team photo).
  async function clearAllOfKind(kind) {
    const todo = (S.detail.flags || []).filter((f) => f.state === 'open' && f.kind === kind);
    if (!todo.length) return;
    const reason = await askReason(t('reason_clear_all', { n: todo.length, kind: kindName(kind) }), clearPresets(kind));
    if (reason === null) return;
    for (const f of todo) {
      const r = await api('POST', fileUrl(S.fileId, `/flags/${encodeURIComponent(f.id)}`), { state: 'cleared', reason });
      if (!r.ok) break;
    }
    toast(t('saved'));
    await refresh();
  }

  // "Fixed by adding a blur box over it": the box is added, then the flag is cleared
  // with a reason that says so.
  async function coverFlag(flag) {
    const body = { kind: 'other', box: flag.box };
    if (isVideo()) Object.assign(body, { t_start: flag.t_start ?? 0, t_end: flag.t_end ?? S.detail.duration });
    const r = await api('POST', fileUrl(S.fileId, '/regions'), body);
    if (!r.ok) return;
    await api('POST', fileUrl(S.fileId, `/flags/${encodeURIComponent(flag.id)}`),
      { state: 'cleared', reason: `covered by an added blur box (${kindName(flag.kind)})` });
    toast(t('saved'));
    await refresh();
  }

  // Approving renders the file again, which takes a while for a video: the server does
  // it in the background (one at a time) and the page goes on to the next file; a poll
  // of /api/jobs says how each approval ended.
  async function approve() {
    if (!S.detail) return;
    const id = S.fileId;
    const r = await api('POST', fileUrl(id, '/approve'), { wait: false });
    if (r.status === 409) { showRefused((r.data && r.data.open) || [], r.data && r.data.error); return; }
    if (!r.ok) return;
    toast(t('approving', { name: (r.data && r.data.input) || '' }));
    watchJobs();
    const before = visibleFiles().map((f) => f.id);
    await loadFiles();
    const after = visibleFiles().filter((f) => f.id !== id && !f.approving);
    const next = after.find((f) => before.indexOf(f.id) > before.indexOf(id)) || after[0];
    if (next) await openFile(next.id);
    else await loadDetail();
  }

  const seenJobs = new Set();
  let jobTimer = null;
  function watchJobs() {
    if (!jobTimer) jobTimer = setTimeout(pollJobs, 700);
  }
  async function pollJobs(quiet) {
    jobTimer = null;
    const r = await api('GET', '/api/jobs');
    if (!r.ok) return;
    let pending = false; let ended = false;
    for (const j of r.data.jobs || []) {
      if (j.state === 'queued' || j.state === 'running') { pending = true; continue; }
      if (seenJobs.has(j.id)) continue;
      seenJobs.add(j.id);
      if (quiet === true) continue; // ended before this page was opened
      ended = true;
      if (j.state === 'done') toast(t('approved', { out: j.output || '' }));
      else {
        const more = (j.problems || []).length ? ` (${j.problems.join('; ')})` : '';
        toast(`${t('approve_failed', { name: j.input })}: ${j.error || ''}${more}`, true);
      }
    }
    if (ended) await refresh();
    if (pending) watchJobs();
  }

  async function reject() {
    if (!S.detail) return;
    const reason = await askReason(t('reason_reject'), ['preset_no_post', 'preset_duplicate', 'preset_other']);
    if (reason === null) return;
    const r = await api('POST', fileUrl(S.fileId, '/reject'), { reason });
    if (!r.ok) return;
    toast(t('rejected'));
    await afterVerdict();
  }

  // After approve/reject the file usually leaves the "to review" list: go on with the
  // next one in the queue, as a reviewer working down the list expects.
  async function afterVerdict() {
    const before = visibleFiles().map((f) => f.id);
    const at = before.indexOf(S.fileId);
    await loadFiles();
    const after = visibleFiles();
    if (after.some((f) => f.id === S.fileId)) { await loadDetail(); return; }
    const next = after.find((f) => before.indexOf(f.id) > at) || after[after.length - 1];
    if (next) await openFile(next.id);
    else { S.fileId = null; S.detail = null; renderQueue(); renderFile(); }
  }

  async function undo() {
    if (!S.detail) return;
    const r = await api('POST', fileUrl(S.fileId, '/undo'), {});
    if (r.ok) { toast(t('undone')); await refresh(); }
  }

  function showRefused(items, error) {
    const list = $('#refused-list');
    list.replaceChildren();
    if (error) list.append(h('li', { class: 'refused-why', text: error }));
    for (const it of items) {
      let text = it;
      if (it && typeof it === 'object') {
        text = [it.kind && kindName(it.kind), it.score != null && Number(it.score).toFixed(2),
          it.state && t(`state_${it.state}`), clauses(it.clauses), it.reason]
          .filter(Boolean).join(' · ');
      }
      list.append(h('li', { text: String(text) }));
    }
    $('#refused-dialog').showModal();
  }

  // ---- side panel lists --------------------------------------------------------------
  const clauses = (c) => (c && c.length ? `${t('clause')} ${c.join(', ')}` : '');

  function renderFlags() {
    const ul = $('#flags');
    ul.replaceChildren();
    const flags = S.detail.flags || [];
    const bulk = $('#flags-bulk');
    bulk.replaceChildren();
    const openByKind = new Map();
    for (const f of flags) if (f.state === 'open') openByKind.set(f.kind, (openByKind.get(f.kind) || 0) + 1);
    for (const [kind, n] of openByKind) {
      if (n > 1) {
        bulk.append(h('button', { type: 'button', class: 'clear-kind', 'data-kind': kind,
          text: t('clear_all', { n, kind: kindName(kind) }), onclick: () => clearAllOfKind(kind) }));
      }
    }
    const open = flags.filter((f) => f.state === 'open').length;
    $('#flag-count').textContent = flags.length ? `(${flags.length}, ${t('state_open')} ${open})` : '';
    if (!flags.length) ul.append(h('li', { class: 'muted', text: t('no_flags') }));
    for (const f of flags) {
      const isOpen = f.state === 'open';
      ul.append(h('li', {
        'data-flag': f.id, class: `flag-row st-${f.state}`,
        onclick: (ev) => { if (ev.target.tagName !== 'BUTTON') focusItem({ type: 'flag', id: f.id, item: f }); },
      },
      h('div', { class: 'rtext' },
        h('strong', { text: kindName(f.kind) }), ' ',
        f.score != null ? h('span', { class: 'mono', text: Number(f.score).toFixed(2) }) : null, ' ',
        h('span', { class: 'muted', text: clauses(f.clauses) }), ' ',
        isOpen ? null : h('span', { class: `badge fs-${f.state}`, text: t(`state_${f.state}`) }),
        f.reason ? h('div', { class: 'muted small', text: f.reason }) : null),
      isOpen ? h('div', { class: 'flag-actions' },
        h('button', { type: 'button', class: 'clear-flag', text: t('clear'), onclick: () => resolveFlag(f, 'cleared') }),
        h('button', { type: 'button', class: 'confirm-flag danger', text: t('confirm'), onclick: () => resolveFlag(f, 'confirmed') }),
        f.box ? h('button', { type: 'button', class: 'cover-flag', text: t('cover'), onclick: () => coverFlag(f) }) : null) : null));
    }
  }

  function renderRegions() {
    const ul = $('#regions');
    ul.replaceChildren();
    const regions = S.detail.regions || [];
    const kept = regions.filter((r) => r.action === 'keep').length;
    $('#region-count').textContent = regions.length ? `(${regions.length}, ${t('keep')} ${kept})` : '';
    $('#keep-officers').hidden = !regions.some((r) => r.suggested === 'keep');
    if (!regions.length) ul.append(h('li', { class: 'muted', text: t('no_regions') }));
    // Suggested officers first, then by score (lowest first: those need an eye).
    const order = regions.slice().sort((a, b) => (b.suggested === 'keep') - (a.suggested === 'keep')
      || (a.score ?? 1) - (b.score ?? 1));
    for (const r of order) {
      const sel = S.selected && S.selected.type === 'region' && S.selected.id === r.id;
      const sugg = r.suggested === 'keep';
      ul.append(h('li', {
        'data-region': r.id, 'data-action': r.action,
        class: `region-row ${r.action}${sel ? ' selected' : ''}`,
        onclick: (ev) => { if (ev.target.tagName !== 'BUTTON') focusItem({ type: 'region', id: r.id, item: r }); },
      },
      h('div', { class: 'rtext' },
        h('strong', { text: kindName(r.kind) }), ' ',
        sugg ? h('span', { class: 'badge officer', text: t('suggested_keep') }) : null,
        r.source === 'reviewer' ? h('span', { class: 'badge added', text: t('added') }) : null, ' ',
        r.score != null && r.source !== 'reviewer'
          ? h('span', { class: 'mono', title: t('score'), text: Number(r.score).toFixed(2) }) : null, ' ',
        h('span', { class: 'muted', text: clauses(r.clauses) }),
        isVideo() && r.t_start != null ? h('span', { class: 'muted mono', text: ` ${fmt(r.t_start)}–${fmt(r.t_end)} s` }) : null,
        r.reason ? h('div', { class: 'muted small', text: r.reason }) : null),
      h('div', { class: 'toggle', role: 'group' },
        h('button', { type: 'button', class: 'blur', 'aria-pressed': String(r.action === 'blur'), text: t('blur'),
          onclick: () => { if (r.action !== 'blur') setRegion(r, 'blur'); } }),
        h('button', { type: 'button', class: 'keep', 'aria-pressed': String(r.action === 'keep'), text: t('keep'),
          onclick: () => { if (r.action !== 'keep') setRegion(r, 'keep'); } }))));
    }
  }

  function renderMutes() {
    const ul = $('#mutes');
    ul.replaceChildren();
    const mutes = S.detail.mutes || [];
    if (!mutes.length) ul.append(h('li', { class: 'muted', text: t('no_mutes') }));
    mutes.forEach(([a, b], i) => ul.append(h('li', { class: 'row' },
      h('span', { class: 'mono', text: `${fmt(a)} – ${fmt(b)} s` }),
      h('button', { type: 'button', text: t('remove'),
        onclick: () => saveMutes(mutes.filter((_m, j) => j !== i)) }))));
  }

  async function saveMutes(ranges) {
    const r = await api('POST', fileUrl(S.fileId, '/mutes'), { ranges });
    if (r.ok) { toast(t('saved')); await refresh(); }
  }

  function addMute() {
    const a = S.markIn != null ? S.markIn : frameTime(S.frame);
    const b = S.markOut != null ? S.markOut : S.detail.duration;
    if (!(b > a)) { toast(`${t('mark_in')} < ${t('mark_out')}`, true); return; }
    saveMutes((S.detail.mutes || []).concat([[a, b]]));
  }

  // Ledger times are Unix seconds; show them in the reviewer's local time.
  function when_(tm) {
    if (tm === null || tm === undefined || tm === '') return '';
    const d = typeof tm === 'number' ? new Date(tm * 1000) : new Date(tm);
    return Number.isNaN(d.getTime()) ? String(tm) : d.toLocaleString('sv-SE');
  }

  const actionName = (a) => {
    const s = t(`act_${a}`);
    return s === `act_${a}` ? String(a || '') : s;
  };

  function renderHistory() {
    const ol = $('#history');
    ol.replaceChildren();
    const hist = S.detail.history || [];
    if (!hist.length) ol.append(h('li', { class: 'muted', text: t('no_history') }));
    for (const e of hist.slice().reverse()) {
      if (e && typeof e === 'object') {
        const when = when_(e.time);
        // An undo names what it undid: worded here, the stored reason is English.
        const undid = e.undoes ? `${actionName(e.undoes.action)} ${e.undoes.target}` : null;
        const target = undid ? null : e.target;
        ol.append(h('li', {},
          h('span', { class: 'mono muted', text: when }), ' ',
          h('strong', { text: actionName(e.action) }), ' ',
          target != null ? h('span', { class: 'mono', text: String(target) }) : null, ' ',
          e.reviewer ? h('span', { class: 'muted', text: `— ${e.reviewer}` }) : null,
          (undid || e.reason) ? h('div', { class: 'small', text: undid || e.reason }) : null));
      } else {
        ol.append(h('li', { text: String(e) }));
      }
    }
  }

  // ---- video -------------------------------------------------------------------------
  function renderVideoBar() {
    if (!isVideo()) return;
    const n = frameCount();
    const slider = $('#frame-slider');
    slider.max = String(n - 1);
    slider.value = String(S.frame);
    $('#frame-label').textContent = `${t('frame')} ${S.frame + 1}/${n} · ${fmt(frameTime(S.frame))} s`;
    $('#marks-label').textContent = `[${fmt(S.markIn)} → ${fmt(S.markOut)}]`;
    const tl = $('#timeline');
    tl.replaceChildren();
    const dur = S.detail.duration || n / fps();
    const pct = (x) => `${Math.min(100, Math.max(0, (100 * x) / dur))}%`;
    const bar = (a, b, cls, title) => tl.append(h('div', {
      class: cls, title, style: `left:${pct(a)};width:calc(${pct(b)} - ${pct(a)})`,
    }));
    for (const r of S.detail.regions || []) {
      if (r.t_start != null) bar(r.t_start, r.t_end ?? dur, `tl-region ${r.action}`, `${kindName(r.kind)} ${r.id}`);
    }
    for (const f of S.detail.flags || []) {
      if (f.t_start != null) bar(f.t_start, f.t_end ?? f.t_start, `tl-flag st-${f.state}`, kindName(f.kind));
    }
    for (const [a, b] of S.detail.mutes || []) bar(a, b, 'tl-mute', t('mutes'));
    if (S.markIn != null || S.markOut != null) {
      bar(S.markIn ?? 0, S.markOut ?? dur, 'tl-marks', '');
    }
    tl.append(h('div', { class: 'tl-head', style: `left:${pct(frameTime(S.frame))}` }));
  }

  function seek(i) {
    if (!isVideo()) return;
    S.frame = Math.min(frameCount() - 1, Math.max(0, Math.round(i)));
    S.frameChosen = true;
    renderVideoBar();
    loadFrame();
  }

  // Jump to an item: select it and, in a video, seek to where it starts.
  function focusItem(it) {
    if (isVideo() && it.item && it.item.t_start != null) {
      const tNow = frameTime(S.frame);
      if (tNow < it.item.t_start || (it.item.t_end != null && tNow > it.item.t_end)) {
        seek(frameAt(it.item.t_start));
      }
    }
    select({ type: it.type, id: it.id });
  }

  function nextOpenItem(step) {
    const items = openItems();
    if (!items.length) return;
    const i = S.selected ? items.findIndex((x) => x.type === S.selected.type && x.id === S.selected.id) : -1;
    const from = i < 0 && step < 0 ? 0 : i;
    focusItem(items[(from + step + items.length) % items.length]);
  }

  function toggleSelected() {
    if (!S.selected || S.selected.type !== 'region') return;
    const r = (S.detail.regions || []).find((x) => x.id === S.selected.id);
    if (r) setRegion(r, r.action === 'keep' ? 'blur' : 'keep');
  }

  // ---- keyboard ----------------------------------------------------------------------
  function onKey(ev) {
    if (document.querySelector('dialog[open]')) return;
    const tag = (ev.target && ev.target.tagName) || '';
    if (['INPUT', 'SELECT', 'TEXTAREA'].includes(tag) && ev.target.type !== 'range'
        && ev.target.type !== 'radio' && ev.target.type !== 'checkbox') return;
    const k = ev.key;
    const ctrl = ev.ctrlKey || ev.metaKey;
    if (ctrl && (k === 'z' || k === 'Z')) { ev.preventDefault(); undo(); return; }
    if (ctrl || ev.altKey) return;
    const step = ev.shiftKey ? 10 : 1;
    const acts = {
      '?': () => $('#legend-dialog').showModal(),
      ArrowDown: () => moveFile(1), ArrowUp: () => moveFile(-1),
      n: () => moveFile(1), N: () => moveFile(1), p: () => moveFile(-1), P: () => moveFile(-1),
      ']': () => nextOpenItem(1), '[': () => nextOpenItem(-1),
      a: approve, A: approve, r: reject, R: reject, b: toggleSelected, B: toggleSelected,
      1: () => setView('edit'), 2: () => setView('preview'), 3: () => setView('output'),
      j: () => seek(S.frame - step), J: () => seek(S.frame - step),
      k: () => seek(S.frame + step), K: () => seek(S.frame + step),
      i: () => setMark('in'), I: () => setMark('in'), o: () => setMark('out'), O: () => setMark('out'),
      Escape: cancelPending, Enter: () => { if (S.pending || S.keyframes.length) addBox(); },
    };
    const fn = acts[k];
    if (!fn) return;
    ev.preventDefault();
    fn();
  }

  function setView(v) {
    S.view = v;
    renderViews();
    loadFrame();
  }

  function setMark(which) {
    if (!isVideo()) return;
    const tNow = frameTime(S.frame);
    if (which === 'in') S.markIn = tNow; else S.markOut = tNow;
    renderVideoBar();
  }

  function buildLegend() {
    const rows = [
      ['↓ / N', 'key_next_file'], ['↑ / P', 'key_prev_file'], ['] / [', 'key_next_item'],
      ['A', 'key_approve'], ['R', 'key_reject'], ['B', 'key_toggle'], ['Ctrl+Z', 'key_undo'],
      ['1 / 2 / 3', 'key_views'], ['J / K', 'key_frame1'], ['Shift+J / Shift+K', 'key_frame10'],
      ['I / O', 'key_marks'], ['Esc', 'key_escape'], ['?', 'key_legend'],
    ];
    $('#legend-table').replaceChildren(...rows.map(([key, label]) =>
      h('tr', {}, h('th', {}, h('kbd', { text: key })), h('td', { text: t(label) }))));
  }

  function setLang(lang) {
    S.lang = lang;
    localStorage.setItem(LANG_KEY, lang);
    applyStatic();
    buildLegend();
    renderQueue();
    renderFile();
  }

  // ---- wiring ----------------------------------------------------------------------
  function wire() {
    $('#lang').addEventListener('click', () => setLang(S.lang === 'en' ? 'hi' : 'en'));
    $('#help').addEventListener('click', () => $('#legend-dialog').showModal());
    for (const b of $$('[data-filter]')) {
      b.addEventListener('click', () => { S.filter = b.dataset.filter; renderQueue(); });
    }
    for (const b of $$('[data-view]')) b.addEventListener('click', () => setView(b.dataset.view));
    for (const b of $$('[data-step]')) b.addEventListener('click', () => seek(S.frame + Number(b.dataset.step)));
    $('#frame-slider').addEventListener('input', (ev) => seek(Number(ev.target.value)));
    $('#timeline').addEventListener('click', (ev) => {
      const rect = ev.currentTarget.getBoundingClientRect();
      const dur = S.detail.duration || frameTime(frameCount() - 1) || 1;
      seek(frameAt(((ev.clientX - rect.left) / rect.width) * dur));
    });
    $('#mark-in').addEventListener('click', () => setMark('in'));
    $('#mark-out').addEventListener('click', () => setMark('out'));
    $('#add-mute').addEventListener('click', addMute);
    $('#approve').addEventListener('click', approve);
    $('#reject').addEventListener('click', reject);
    $('#undo').addEventListener('click', undo);
    $('#keep-officers').addEventListener('click', keepOfficers);
    $('#add-confirm').addEventListener('click', addBox);
    $('#add-cancel').addEventListener('click', cancelPending);
    $('#add-keyframe').addEventListener('click', () => {
      if (!S.pending) return;
      S.keyframes.push({ t: frameTime(S.pending.frame), box: S.pending.box });
      S.pending = null;
      renderPending(); renderOverlay();
    });
    $('#clear-keyframes').addEventListener('click', () => { S.keyframes = []; renderPending(); renderOverlay(); });
    for (const r of $$('input[name=kind]')) r.addEventListener('change', renderOverlay);
    const ov = $('#overlay');
    ov.addEventListener('pointerdown', onPointerDown);
    ov.addEventListener('pointermove', onPointerMove);
    ov.addEventListener('pointerup', onPointerUp);
    ov.addEventListener('pointercancel', () => { S.drag = null; renderOverlay(); });
    window.addEventListener('keydown', onKey);
    new ResizeObserver(() => renderOverlay()).observe($('#frame'));
  }

  // Load the shipped Devanagari font before the first paint of any Hindi text, so that
  // nothing is laid out with a fallback that has no Devanagari glyphs.
  async function loadFonts() {
    if (!document.fonts || !document.fonts.load) return;
    try {
      await Promise.all(['400', '700'].map((w) => document.fonts.load(`${w} 16px "Sanitize Devanagari"`, 'कि')));
    } catch (_e) { /* the page still works; Hindi may show boxes */ }
  }

  async function start() {
    await loadFonts();
    applyStatic();
    buildLegend();
    wire();
    renderFile();
    await pollJobs(true);
    await loadFiles();
    const first = visibleFiles()[0];
    if (first) await openFile(first.id);
  }
  start();
})();
