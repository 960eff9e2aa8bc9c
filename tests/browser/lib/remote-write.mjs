// A Prometheus remote-write 1.0 client: the WriteRequest protobuf written by hand (the message has
// five fields) and snappy's block format with literal-only elements, which every snappy decoder
// accepts. Used to load series with exemplars into the real diamond binary.

class Writer {
  constructor() { this.parts = []; this.len = 0; }
  bytes(b) { this.parts.push(b); this.len += b.length; }
  varint(n) {
    const out = [];
    let v = BigInt(n);
    if (v < 0n) v += 1n << 64n;
    do {
      let byte = Number(v & 0x7fn);
      v >>= 7n;
      if (v) byte |= 0x80;
      out.push(byte);
    } while (v);
    this.bytes(Uint8Array.from(out));
  }
  tag(field, wire) { this.varint((field << 3) | wire); }
  lenField(field, b) { this.tag(field, 2); this.varint(b.length); this.bytes(b); }
  string(field, s) { this.lenField(field, new TextEncoder().encode(s)); }
  double(field, v) {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v, true);
    this.tag(field, 1);
    this.bytes(b);
  }
  int64(field, v) { this.tag(field, 0); this.varint(v); }
  finish() {
    const out = new Uint8Array(this.len);
    let o = 0;
    for (const p of this.parts) { out.set(p, o); o += p.length; }
    return out;
  }
}

function labels(w, field, obj) {
  for (const k of Object.keys(obj).sort()) {
    const l = new Writer();
    l.string(1, k);
    l.string(2, obj[k]);
    w.lenField(field, l.finish());
  }
}

/**
 * series: [{labels: {__name__, ...}, samples: [[ms, value]], exemplars: [{labels, value, ts (ms)}]}]
 */
export function encodeWriteRequest(series) {
  const req = new Writer();
  for (const s of series) {
    const ts = new Writer();
    labels(ts, 1, s.labels);
    for (const [t, v] of s.samples ?? []) {
      const sm = new Writer();
      sm.double(1, v);
      sm.int64(2, t);
      ts.lenField(2, sm.finish());
    }
    for (const e of s.exemplars ?? []) {
      const ex = new Writer();
      labels(ex, 1, e.labels);
      ex.double(2, e.value);
      ex.int64(3, e.ts);
      ts.lenField(3, ex.finish());
    }
    req.lenField(1, ts.finish());
  }
  return req.finish();
}

/** Snappy block format with literals only (valid, uncompressed). */
export function snappyLiteral(data) {
  const w = new Writer();
  w.varint(data.length);
  for (let o = 0; o < data.length; o += 65536) {
    const chunk = data.subarray(o, Math.min(o + 65536, data.length));
    const n = chunk.length - 1;
    if (n < 60) w.bytes(Uint8Array.of(n << 2));
    else w.bytes(Uint8Array.of(61 << 2, n & 0xff, n >> 8));
    w.bytes(chunk);
  }
  return w.finish();
}

export async function remoteWrite(base, series) {
  const body = snappyLiteral(encodeWriteRequest(series));
  const res = await fetch(`${base}/api/v1/write`, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/x-protobuf',
      'Content-Encoding': 'snappy',
      'X-Prometheus-Remote-Write-Version': '0.1.0',
    },
    body,
  });
  if (res.status !== 204 && res.status !== 200) {
    throw new Error(`remote write answered ${res.status}: ${await res.text()}`);
  }
}
