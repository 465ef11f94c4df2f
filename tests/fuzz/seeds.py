#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz/corpus/ from the test data: every
schema's example event (tests/data/json_avro/examples.json) and the bad
inputs applied to it, the schemas, bodies (plain, array, NDJSON, gzip),
texts for the scrubber (jwt-pumped: the backtracking of issue 12, item 1)
and Avro bodies for the resolution and hostile test catalogs. The encoded
messages of corpus/codec_decode come from the JSON->Avro harness:

    tests/fuzz/seeds.py
    TALLY_FUZZ_DUMP_DIR=tests/fuzz/corpus/codec_decode \
      LSAN_OPTIONS=use_unaligned=1 build-fuzz/fuzz/fuzz_json_avro tests/fuzz/corpus/json_avro/*
"""
import glob, gzip, json, os
root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
C = root + '/tests/fuzz/corpus'
def put(h, name, data):
    d = os.path.join(C, h); os.makedirs(d, exist_ok=True)
    if isinstance(data, str): data = data.encode()
    open(os.path.join(d, name), 'wb').write(data)
def compact(v): return json.dumps(v, separators=(',', ':'), ensure_ascii=False)
def gz(b):  # fixed mtime: reproducible bytes
    return gzip.compress(b if isinstance(b, bytes) else b.encode(), mtime=0)

ex = json.load(open(root + '/tests/data/json_avro/examples.json'))
bad = json.load(open(root + '/tests/data/json_avro/bad_inputs.json'))
# JSON -> Avro: every schema's example, in and out forms; bad inputs applied to its example.
for name, io in ex.items():
    put('json_avro', f'{name}-in.json', compact(io['in']))
    put('json_avro', f'{name}-out.json', compact(io['out']))
    put('json_reader', f'{name}-in.json', json.dumps(io['in'], indent=1))
for i, b in enumerate(bad):
    if 'set' not in b or b['schema'] not in ex: continue
    ev = dict(ex[b['schema']]['in']); ev.update(b['set'])
    put('json_avro', f'bad-{i:02d}-{b["schema"]}.json', compact(ev))
# The reader: schemas, the event catalog and edge cases.
for p in glob.glob(root + '/schemas/*/*.avsc'):
    put('json_reader', 'schema-' + p.split('/')[-2] + '.avsc', open(p, 'rb').read())
put('json_reader', 'product-events.json', open(root + '/schemas/product-events.json', 'rb').read())
edge = {
 'escapes': r'["\"\\\/\b\f\n\r\t", "\u00e9\u4e2d\ud83d\ude00", "\u0000"]',
 'numbers': '[0,-0,1.5e10,-2E-3,9223372036854775807,-9223372036854775808,1e-400,0.1]',
 'literals': '{"a":true,"b":false,"c":null,"a2":"x"}',
 'nested': '[[[[{"a":[{}]}]]]]',
 'utf8': '"\u00e9\u4e2d\U0001F600"',
 'find-a': '{"b":[1,{"a":"no"}],"a":"yes"}',
 'ws': ' \t\r\n{ "k" : [ ] } \n',
}
for k, v in edge.items(): put('json_reader', 'edge-' + k + '.json', v)
# Bodies: flags byte (media 0 json, 1 ndjson, 2 text; 4 gzip; max events-1 in bits 3-7) + body.
evs = [compact(io['in']) for io in ex.values()]
def body(name, media, gzipped, maxev, data):
    flags = media | (4 if gzipped else 0) | ((maxev - 1) << 3)
    data = data.encode() if isinstance(data, str) else data
    put('body_split', name, bytes([flags]) + (gz(data) if gzipped else data))
body('object.json', 0, False, 1, evs[2])
body('array.json', 0, False, 8, '[' + ','.join(evs[:3]) + ']')
body('array-mixed.json', 0, False, 4, '[' + evs[3] + ',1,"x",{}]')
body('ndjson.txt', 1, False, 8, '\n'.join(evs[:4]) + '\n\n  \r\nnot json\n[1]\n')
body('beacon.txt', 2, False, 2, evs[0])
body('object.json.gz', 0, True, 1, evs[2])
body('array.json.gz', 0, True, 8, '[' + ','.join(evs) + ']')
body('ndjson.txt.gz', 1, True, 8, '\n'.join(evs) + '\n')
body('bomb.gz', 0, True, 1, b' ' * 300000 + b'{}')
put('body_split', 'gz-trailing.gz', bytes([4]) + gz('{}') + b'junk')
body('content-type', 0, False, 1, 'application/json; charset="utf-8"\n{}')
# Scrubber: free text with a bit of everything, and pumped hostile runs.
sc = {
 'jwt-pumped': b'\xffeyJ-\xff.',   # "eyJ-eyJ-...eyJ-." (64 KiB): item 1 of issue 12
 'jwt': b'Authorization failed for eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U',
 'url': b'GET https://user:pw@api.example.com:8443/v1/x?token=abc#f failed',
 'email': b"contact o'brien+tag@example.co.uk or admin@10.0.0.1",
 'keys': b'AKIAIOSFODNN7EXAMPLE aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY ghp_abcdefghijklmnopqrstuvwxyz0123456789 glpat-abcdefghijklmnopqrst xoxb-1234567890-abcdef',
 'secrets': b'password=hunter2 "api_key": "k-123" --token abc Bearer abcdefgh12345678 DB_PASSWORD=x',
 'paths': b'at /home/jane doe/app/x.js and C:\\Users\\bob\\a and /Users/al/b',
 'ips': b'from 192.168.1.20 and fe80::1%eth0 and 2001:db8::8a2e:370:7334, not v1.2.3.4',
 'entropy': b'id 9fK2mQ7xLp4ZtR8vWc3NbY6hJd1GsE5uAo0TiVkXq and sha 3f786850e387550fdab836ed7e6dc881de23001b',
 'pem': b'-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----',
 'ipv6-pumped': b'\xff1:\xff',
 'email-pumped': b'\xffa.\xff@',
}
for k, v in sc.items(): put('scrub', k, v)
# Avro bodies (selector byte: catalog in bits 6-7, entry in bits 0-4; see
# fuzz_codec_decode.c), for the test catalogs; framing errors.
def zz(n):
    v = (n << 1) ^ (n >> 63); out = b''
    while True:
        b = v & 0x7f; v >>= 7
        if v: out += bytes([b | 0x80])
        else: return out + bytes([b])
def s(x): x = x.encode(); return zz(len(x)) + x
# Thing v1 (tests/data/resolution, entry 0): read as written and as v2.
thing = s('id-1') + zz(5) + zz(1) + zz(2) + s('a') + s('b') + zz(0) + zz(1) + s('detail')
put('codec_decode', 'Thing-v1-body', bytes([0x80 | 0]) + thing)
# Empties (tests/data/hostile, entry 0): 3 nulls, a map of 2; Node (entry 1): a chain of 5.
put('codec_decode', 'Empties-body', bytes([0xC0 | 0]) + zz(3) + zz(0) + zz(2) + s('a') + s('b') + zz(0))
put('codec_decode', 'Empties-negative-block', bytes([0xC0 | 0]) + zz(-3) + zz(0) + zz(0) + zz(0))
put('codec_decode', 'Node-chain', bytes([0xC0 | 1]) + zz(1) * 5 + zz(0))
put('codec_decode', 'short', bytes([0x20]) + b'\xc3\x01\x00')
put('codec_decode', 'bad-magic', bytes([0x20]) + b'\xc3\x02' + b'\x00' * 8)
