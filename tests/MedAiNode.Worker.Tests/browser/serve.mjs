// A tiny loopback server for OHIF's built viewer: the static dist/, our app-config.js (a DICOMweb data source on
// this same origin), and /dicom-web/* passed through to Orthanc, so the page needs no CORS and can be
// cross-origin isolated (COOP/COEP: cornerstone uses SharedArrayBuffer when it may).
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css',
  '.json': 'application/json', '.wasm': 'application/wasm', '.svg': 'image/svg+xml', '.png': 'image/png',
  '.ico': 'image/x-icon', '.woff2': 'font/woff2', '.woff': 'font/woff', '.ttf': 'font/ttf', '.map': 'application/json',
};

export function appConfig() {
  return `window.config = {
  routerBasename: '/',
  extensions: [],
  modes: [],
  showStudyList: true,
  maxNumberOfWebWorkers: 2,
  showWarningMessageForCrossOrigin: false,
  showCPUFallbackMessage: false,
  showLoadingIndicator: true,
  strictZSpacingForVolumeViewport: true,
  investigationalUseDialog: { option: 'never' },
  showErrorDetails: 'always',
  defaultDataSourceName: 'orthanc',
  dataSources: [{
    namespace: '@ohif/extension-default.dataSourcesModule.dicomweb',
    sourceName: 'orthanc',
    configuration: {
      friendlyName: 'Orthanc (test)',
      name: 'orthanc',
      wadoUriRoot: window.location.origin + '/dicom-web',
      qidoRoot: window.location.origin + '/dicom-web',
      wadoRoot: window.location.origin + '/dicom-web',
      qidoSupportsIncludeField: false,
      imageRendering: 'wadors',
      thumbnailRendering: 'wadors',
      enableStudyLazyLoad: true,
      supportsFuzzyMatching: false,
      supportsWildcard: true,
      dicomUploadEnabled: false,
      bulkDataURI: { enabled: true },
      omitQuotationForMultipartRequest: true,
    },
  }],
};
`;
}

/** Starts the server on 127.0.0.1 (port 0: any free one); resolves to { server, url }. */
export function startServer({ dist, orthanc, port = 0, log = () => {} }) {
  const target = new URL(orthanc);
  const root = path.resolve(dist);
  const server = http.createServer((req, res) => {
    const isolate = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp', 'Cross-Origin-Resource-Policy': 'same-origin' };
    const url = new URL(req.url, 'http://x');
    if (url.pathname.startsWith('/dicom-web/')) {
      const up = http.request({
        host: target.hostname, port: target.port, method: req.method, path: req.url,
        headers: { ...req.headers, host: req.headers.host },
      }, upRes => {
        log(`${req.method} ${req.url} -> ${upRes.statusCode}`);
        res.writeHead(upRes.statusCode, { ...upRes.headers, ...isolate });
        upRes.pipe(res);
      });
      up.on('error', e => { res.writeHead(502, isolate); res.end(String(e)); });
      req.pipe(up);
      return;
    }
    if (url.pathname === '/app-config.js') {
      res.writeHead(200, { 'Content-Type': 'text/javascript', ...isolate });
      res.end(appConfig());
      return;
    }
    let file = path.join(root, decodeURIComponent(url.pathname));
    if (!file.startsWith(root) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) file = path.join(root, 'index.html');
    res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream', ...isolate });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${server.address().port}` }));
  });
}
