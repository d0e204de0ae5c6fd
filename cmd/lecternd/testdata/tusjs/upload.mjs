// Uploads a file to Lectern with tus-js-client, the reference third-party tus client,
// as the end-to-end test's "real client". With an abort threshold it aborts the upload
// after that many bytes were sent and resumes it from the server's offset with a new
// Upload object, as a browser would after a reload.
//
// usage: node upload.mjs ENDPOINT TOKEN FILE [ABORT_AFTER_BYTES]
// prints one JSON line: {"url": …, "key": …, "uploadUrl": …, "resumed": bool}
// TLS: run with NODE_EXTRA_CA_CERTS pointing at lecternd's certificate.
import fs from 'node:fs'
import path from 'node:path'
import { Upload } from 'tus-js-client'

const [endpoint, token, file, abortAfterArg] = process.argv.slice(2)
const abortAfter = abortAfterArg ? Number(abortAfterArg) : 0
const size = fs.statSync(file).size

function options (extra) {
  return {
    endpoint,
    headers: { Authorization: `Bearer ${token}` },
    chunkSize: 4 * 1024 * 1024,
    uploadSize: size,
    retryDelays: [0, 500, 1000],
    removeFingerprintOnSuccess: true,
    metadata: { filename: path.basename(file), filetype: 'bin', purpose: 'slide' },
    ...extra
  }
}

function finish (upload, resumed) {
  return (payload) => {
    const res = payload.lastResponse
    console.log(JSON.stringify({
      url: res.getHeader('Lectern-Content-URL'),
      key: res.getHeader('Lectern-Content-Key'),
      uploadUrl: upload.url,
      resumed
    }))
  }
}

function fail (err) {
  console.error(`upload failed: ${err}`)
  process.exit(1)
}

let aborted = false
const first = new Upload(fs.createReadStream(file), options({
  onError: fail,
  onProgress: (sent) => {
    if (abortAfter > 0 && !aborted && sent >= abortAfter) {
      aborted = true
      first.abort().then(() => {
        // A new Upload object that knows only the upload URL: it asks the server for
        // the offset (HEAD) and continues from there.
        const second = new Upload(fs.createReadStream(file), options({ uploadUrl: first.url, onError: fail }))
        second.options.onSuccess = finish(second, true)
        second.start()
      }, fail)
    }
  }
}))
first.options.onSuccess = finish(first, false)
first.start()
