// Decrypts testdata/vectors.json with WebCrypto only (globalThis.crypto.subtle, as
// in a browser): an independent check that the Lectern format (docs/format.md) needs
// nothing beyond HKDF-SHA256 and AES-GCM. Exits non-zero on any mismatch.
//
//   node webcrypto_check.mjs vectors.json
import { readFileSync } from 'node:fs';

const subtle = globalThis.crypto?.subtle;
if (!subtle) throw new Error('WebCrypto (globalThis.crypto.subtle) is not available');

const fromHex = (s) => Uint8Array.from(s.match(/../g) ?? [], (b) => parseInt(b, 16));
const toHex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
class Rejected extends Error { constructor(kind, msg) { super(msg); this.kind = kind; } }

const HEADER = 48, TAG = 16;

// decrypt returns the plaintext of a whole Lectern file, or throws Rejected.
async function decrypt(keyBytes, file) {
  const magic = [0x4c, 0x45, 0x43, 0x54]; // "LECT"
  if (file.length < 4 ? !magic.slice(0, file.length).every((m, i) => file[i] === m)
                      : !magic.every((m, i) => file[i] === m)) throw new Rejected('format', 'bad magic');
  if (file.length < HEADER) throw new Rejected('truncated', 'short header');
  if (file[4] !== 1) throw new Rejected('format', 'version');
  if (file[5] < 8 || file[5] > 20 || file[6] !== 0 || file[7] !== 0 || file[8] !== 40) throw new Rejected('format', 'header');
  const prefix = file.subarray(0, 8), salt = file.subarray(9, 41), noncePrefix = file.subarray(41, 48);
  const segSize = 1 << file[5];

  const ikm = await subtle.importKey('raw', keyBytes, 'HKDF', false, ['deriveKey']);
  const key = await subtle.deriveKey({ name: 'HKDF', hash: 'SHA-256', salt, info: prefix },
    ikm, { name: 'AES-GCM', length: 256 }, false, ['decrypt']);

  const out = [];
  for (let i = 0, off = HEADER; ; i++) {
    const full = i === 0 ? segSize - HEADER : segSize;
    const rest = file.length - off;
    if (rest < TAG) throw new Rejected('truncated', `no final segment (segment ${i})`);
    const final = rest < full; // a full segment is never the final one
    const len = final ? rest : full;
    const iv = new Uint8Array(12);
    iv.set(noncePrefix);
    new DataView(iv.buffer).setUint32(7, i); // big endian segment index
    iv[11] = final ? 1 : 0;
    let pt;
    try {
      pt = await subtle.decrypt({ name: 'AES-GCM', iv, tagLength: 128 }, key, file.subarray(off, off + len));
    } catch {
      throw new Rejected('authentication', `segment ${i}`);
    }
    out.push(new Uint8Array(pt));
    off += len;
    if (final) break;
  }
  const total = new Uint8Array(out.reduce((n, p) => n + p.length, 0));
  out.reduce((o, p) => (total.set(p, o), o + p.length), 0);
  return total;
}

const vf = JSON.parse(readFileSync(process.argv[2], 'utf8'));
let failures = 0;
for (const v of vf.valid) {
  try {
    const pt = await decrypt(fromHex(v.key), fromHex(v.ciphertext));
    if (toHex(pt) !== v.plaintext) { failures++; console.log(`FAIL ${v.name}: plaintext differs`); }
  } catch (e) { failures++; console.log(`FAIL ${v.name}: ${e.kind ?? ''} ${e.message}`); }
}
for (const v of vf.invalid) {
  try {
    await decrypt(fromHex(v.key), fromHex(v.ciphertext));
    failures++; console.log(`FAIL ${v.name}: decrypted, want ${v.error}`);
  } catch (e) {
    if (e.kind !== v.error) { failures++; console.log(`FAIL ${v.name}: ${e.kind ?? e.message}, want ${v.error}`); }
  }
}
console.log(`webcrypto: ${vf.valid.length} valid vectors decrypted, ${vf.invalid.length} invalid rejected, ${failures} failures (node ${process.version})`);
process.exit(failures === 0 ? 0 : 1);
