// The demo's upload page: Uppy's Dashboard uploading through tus to this app, and the live list of finished uploads
// from GET /events. Everything is loaded from this origin (see the Content-Security-Policy of the page).
import { Dashboard, Tus, Uppy } from './uppy/uppy.min.mjs';

const $ = (id) => document.getElementById(id);
const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.content ?? '';
const endpoint = meta('tus-endpoint') || '/files';
const TOKEN_KEY = 'tus-demo-token';
const PARALLEL_PARTS = 4;

// --- token: kept in this browser; the server fills in only its documented default ---------------------------------
const tokenField = $('token');
tokenField.value = localStorage.getItem(TOKEN_KEY) ?? meta('demo-token');
const token = () => tokenField.value.trim();
const authorization = () => ({ Authorization: `Bearer ${token()}` });

// --- uploads ---------------------------------------------------------------------------------------------------------
const uppy = new Uppy({ autoProceed: false })
  .use(Dashboard, {
    inline: true,
    target: '#uppy',
    width: '100%',
    height: 380,
    showProgressDetails: true,
    proudlyDisplayPoweredByUppy: false,
    note: 'Any files, any size; pause or retry each one from its progress circle.',
  })
  .use(Tus, {
    endpoint,
    // Read when each upload starts, so a corrected token applies to the next start or retry.
    headers: () => authorization(),
    retryDelays: [0, 1000, 3000, 5000],
    // A finished file added again is a new upload, not an instant "resume" of the finished one.
    removeFingerprintOnSuccess: true,
    // storeFingerprintForResuming stays on (the default): after a reload the same file resumes where it stopped.
  });
window.uppy = uppy; // for the console, and for tests

function applySettings() {
  const chunkMiB = Number($('chunk').value);
  uppy.getPlugin('Tus').setOptions({
    chunkSize: chunkMiB > 0 ? Math.max(1, Math.round(chunkMiB * 1024 * 1024)) : Infinity,
    parallelUploads: $('parallel').checked ? PARALLEL_PARTS : 1,
  });
}
$('chunk').addEventListener('input', applySettings);
$('parallel').addEventListener('change', applySettings);
$('settings').addEventListener('submit', (event) => event.preventDefault());
applySettings();

uppy.on('upload-error', (file, error, response) => {
  if (response?.status === 401) uppy.info('The server refused the token: correct it above, then retry.', 'error', 8000);
});

// --- finished uploads, live --------------------------------------------------------------------------------------
const live = $('live');
const rows = $('finished').tBodies[0];
let events = null;
let ownInstance = '';
let reconnectTimer = 0;

function setStatus(text, kind = '') {
  live.textContent = text;
  live.className = `badge ${kind}`.trim();
}

function connect() {
  events?.close();
  events = null;
  clearTimeout(reconnectTimer);
  if (token() === '') return setStatus('enter the token above', 'bad');
  setStatus('connecting…');
  const source = new EventSource(`events?token=${encodeURIComponent(token())}`);
  events = source;
  source.addEventListener('ready', (event) => {
    ownInstance = JSON.parse(event.data).instance;
    setStatus(`live · instance ${ownInstance}`, 'live');
  });
  source.addEventListener('finished', (event) => show(JSON.parse(event.data)));
  source.addEventListener('error', async () => {
    if (source !== events) return;
    if (source.readyState !== EventSource.CLOSED) return setStatus('reconnecting…'); // EventSource retries itself
    // It gave up: an answer other than an event stream. Say why when it is the token.
    const answer = await fetch('events', { method: 'HEAD', headers: authorization() }).catch(() => null);
    if (source !== events) return;
    if (answer?.status === 401) return setStatus('token refused', 'bad');
    setStatus('disconnected, retrying…', 'bad');
    reconnectTimer = setTimeout(connect, 3000);
  });
}

tokenField.addEventListener('change', () => {
  localStorage.setItem(TOKEN_KEY, token());
  connect();
});
connect();

function show(upload) {
  if (rows.querySelector(`tr[data-id="${CSS.escape(upload.id)}"]`)) return; // replayed after a reconnect
  $('empty').hidden = true;
  const row = rows.insertRow(0);
  row.dataset.id = upload.id;
  row.className = 'new';
  cell(row, upload.filename ?? '(no name)', upload.filetype ?? '');
  cell(row, formatSize(upload.size), upload.size === null ? '' : `${upload.size} bytes`).className = 'num';
  code(cell(row), `s3://${upload.object.bucket}/${upload.object.key}`);
  if (upload.copy) code(cell(row), `s3://${upload.copy.bucket}/${upload.copy.key}`);
  else cell(row, '—', 'not copied (TUS_COPY_BUCKET is not set)');
  cell(row, upload.instance === ownInstance ? `${upload.instance} (this one)` : upload.instance).className = 'nowrap';
  const at = new Date(upload.finishedAt);
  cell(row, at.toLocaleTimeString(), at.toISOString()).className = 'nowrap';
}

function cell(row, text = '', title = '') {
  const td = row.insertCell();
  td.textContent = text;
  if (title) td.title = title;
  return td;
}

function code(td, text) {
  const element = document.createElement('code');
  element.textContent = text;
  td.append(element);
}

// Binary units, as Uppy's Dashboard counts (it writes "MB" for MiB); the exact count is in the cell's title.
function formatSize(bytes) {
  if (bytes === null) return '?';
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} bytes` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}
