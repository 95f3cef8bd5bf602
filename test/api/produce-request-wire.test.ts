// The hand decoder of ProduceRequest (src/api/produce-request-wire.ts) held to protobuf-es, its
// reference: on every encoding protobuf-es writes it returns the very message fromBinary returns
// (same plain objects, bytes as views into the input, same bytes when encoded again); on anything
// else it never throws, and a message it returns is always fromBinary's.
import assert from "node:assert/strict";
import { isUtf8 } from "node:buffer";
import { test } from "node:test";
import { create, equals, fromBinary, isMessage, toBinary } from "@bufbuild/protobuf";
import { TimestampSchema } from "@bufbuild/protobuf/wkt";
import { createValidator } from "@bufbuild/protovalidate";
import { Code, ConnectError } from "@connectrpc/connect";
import fc from "fast-check";
import { defaultApiLimits } from "../../src/api/limits.js";
import { decodeProduceRequestFast } from "../../src/api/produce-request-wire.js";
import { decodeValidProduceRequest } from "../../src/api/request-decoding.js";
import {
  type ProduceRequest,
  ProduceRequestSchema,
} from "../../src/gen/tidelog/v1/log_service_pb.js";
import { RecordSchema } from "../../src/gen/tidelog/v1/record_pb.js";

// ---- wire helpers -------------------------------------------------------------------------------

function varint(value: bigint | number): number[] {
  let rest = BigInt(value);
  const out: number[] = [];
  while (rest >= 0x80n) {
    out.push(Number(rest & 0x7fn) | 0x80);
    rest >>= 7n;
  }
  out.push(Number(rest));
  return out;
}

/** A length-delimited field: tag, length, data. */
function delimited(tag: number, data: ArrayLike<number>): number[] {
  return [tag, ...varint(data.length), ...Array.from(data)];
}

const bytesOf = (parts: ArrayLike<number>[]) => new Uint8Array(parts.flatMap((p) => Array.from(p)));
const utf8 = (text: string) => new TextEncoder().encode(text);

// ---- arbitraries --------------------------------------------------------------------------------

/** Strings: ASCII short and long, any code point, graphemes, and the ones protobuf-es alters. */
const textArbitrary = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.string({ minLength: 13, maxLength: 60 }),
  fc.string({ unit: "binary", maxLength: 20 }),
  fc.string({ unit: "grapheme", maxLength: 8 }),
  fc.constantFrom(
    "",
    "orders",
    "é",
    "日本語のトピック",
    "\u{1F600}",
    "\uFFFD", // decoded text holding U+FFFD from valid bytes
    "\uD800", // a lone surrogate: written as U+FFFD
    "\uFEFFbom", // protobuf-es's TextDecoder drops a leading byte order mark
    "\uFEFF\uFEFF",
    "constructor",
    "toString",
    "1",
  ),
);

const offsetArbitrary = fc.oneof(
  fc.constantFrom(
    0n,
    1n,
    127n,
    128n,
    2n ** 28n,
    2n ** 32n - 1n,
    2n ** 49n - 1n,
    2n ** 49n,
    2n ** 56n,
    2n ** 63n - 1n,
    2n ** 63n,
    2n ** 64n - 1n,
  ),
  fc.bigInt(0n, 2n ** 64n - 1n),
);

const timeArbitrary = fc.record({
  seconds: fc.oneof(
    fc.constantFrom(0n, -1n, -(2n ** 63n), 2n ** 63n - 1n),
    fc.bigInt(-(2n ** 63n), 2n ** 63n - 1n),
  ),
  nanos: fc.oneof(fc.constantFrom(0, -1, 999_999_999, -(2 ** 31), 2 ** 31 - 1), fc.integer()),
});

/** Headers as entries: "" and unicode keys, occasionally "__proto__" (an own key, not the setter). */
const headersArbitrary = fc
  .array(
    fc.tuple(
      fc.oneof({ weight: 20, arbitrary: textArbitrary }, fc.constant("__proto__")),
      textArbitrary,
    ),
    {
      maxLength: 4,
    },
  )
  .map((entries) => Object.fromEntries(entries));

const recordArbitrary = fc
  .record({
    value: fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.constant(new Uint8Array(0))),
    key: fc.oneof(fc.constant(new Uint8Array(0)), fc.uint8Array({ maxLength: 40 })),
    headers: fc.oneof(fc.constant({}), headersArbitrary),
    offset: fc.oneof(fc.constant(0n), offsetArbitrary),
    time: fc.option(timeArbitrary, { freq: 5, nil: undefined }),
  })
  .map(({ time, ...fields }) =>
    create(RecordSchema, {
      ...fields,
      ...(time === undefined ? {} : { time: create(TimestampSchema, time) }),
    }),
  );

function requestArbitrary(maxRecords: number) {
  return fc
    .record({ topic: textArbitrary, records: fc.array(recordArbitrary, { maxLength: maxRecords }) })
    .map((init) => create(ProduceRequestSchema, init));
}

// ---- the check ----------------------------------------------------------------------------------

/**
 * Decodes `input` with both decoders: the fast one must not throw, and a message it returns must
 * be fromBinary's, deep-equal and encoding to the same bytes. True when the fast one accepted.
 */
function agreesWithProtobufEs(input: Uint8Array): boolean {
  let fast: ProduceRequest | undefined;
  try {
    fast = decodeProduceRequestFast(input);
  } catch (error) {
    assert.fail(
      `decodeProduceRequestFast threw on ${Buffer.from(input).toString("hex")}: ${error}`,
    );
  }
  if (fast === undefined) return false;
  let reference: ProduceRequest;
  try {
    reference = fromBinary(ProduceRequestSchema, input);
  } catch (error) {
    assert.fail(
      `accepted what fromBinary rejects (${error}): ${Buffer.from(input).toString("hex")}`,
    );
  }
  assert.ok(isMessage(fast, ProduceRequestSchema));
  assert.ok(equals(ProduceRequestSchema, fast, reference));
  assert.deepEqual(fast, reference);
  assert.deepEqual(toBinary(ProduceRequestSchema, fast), toBinary(ProduceRequestSchema, reference));
  return true;
}

/** Both as protobuf-es writes it (Uint8Array) and as the gRPC route receives it (Buffer). */
function agreesOnBoth(input: Uint8Array): boolean {
  const accepted = agreesWithProtobufEs(input);
  assert.equal(agreesWithProtobufEs(Buffer.from(input)), accepted);
  return accepted;
}

/** protobuf-es reads back what it wrote, except a leading BOM and lone surrogates (U+FFFD). */
const lossless = (text: string) => new TextDecoder().decode(utf8(text)) === text;

// ---- 1. every encoding protobuf-es writes -------------------------------------------------------

test("decodes every ProduceRequest protobuf-es writes as fromBinary does", () => {
  fc.assert(
    fc.property(requestArbitrary(50), (request) => {
      const bytes = toBinary(ProduceRequestSchema, request);
      const protoKey = request.records.some((record) => Object.hasOwn(record.headers, "__proto__"));
      for (const input of [bytes, Buffer.from(bytes)]) {
        const fast = decodeProduceRequestFast(input);
        if (fast === undefined) {
          assert.ok(protoKey, `declined ${Buffer.from(input).toString("hex")}`);
          continue;
        }
        assert.ok(!protoKey, "a __proto__ header must go to protobuf-es");
        assert.ok(agreesWithProtobufEs(input));
        const reference = fromBinary(ProduceRequestSchema, input);
        // Bytes are views into the input wherever protobuf-es's are, with the same class.
        fast.records.forEach((record, i) => {
          const other = reference.records[i]!;
          for (const field of ["value", "key"] as const) {
            assert.equal(
              record[field].buffer === input.buffer,
              other[field].buffer === input.buffer,
            );
            assert.equal(record[field].byteOffset, other[field].byteOffset);
            assert.equal(record[field].constructor, other[field].constructor);
          }
          assert.ok(isMessage(record, RecordSchema));
        });
        const texts = [
          request.topic,
          ...request.records.flatMap((record) => Object.entries(record.headers).flat()),
        ];
        if (texts.every(lossless)) {
          assert.deepEqual(toBinary(ProduceRequestSchema, fast), bytes);
          assert.ok(equals(ProduceRequestSchema, fast, request));
        }
      }
    }),
    { numRuns: 300 },
  );
});

test("edge cases decode as protobuf-es decodes them", () => {
  const cases: [string, number[]][] = [
    ["the empty message", []],
    ["an empty record", [0x12, 0]],
    ["offset 2^64 - 1", [0x12, 11, 0x20, ...varint(2n ** 64n - 1n)]],
    ["offset 0 written out", [0x12, 2, 0x20, 0]],
    ["a non-minimal length", [0x0a, 0x81, 0x00, 0x61]],
    ["topic twice: the last wins", [...delimited(0x0a, utf8("a")), ...delimited(0x0a, utf8("b"))]],
    ["a leading BOM is dropped", delimited(0x0a, utf8("\uFEFFtopic"))],
    ["one BOM of two is dropped", delimited(0x0a, utf8("\uFEFF\uFEFFx"))],
    ["a valid U+FFFD", delimited(0x0a, utf8("a\uFFFDb-longer-than-twelve"))],
    ["a header entry with neither key nor value", [0x12, 2, 0x1a, 0]],
    ["a header entry with only a value", [0x12, 5, 0x1a, 3, 0x12, 1, 0x76]],
    [
      "a duplicate header key: the later wins",
      delimited(0x12, [
        ...delimited(0x1a, [...delimited(0x0a, utf8("k")), ...delimited(0x12, utf8("1"))]),
        ...delimited(0x1a, [...delimited(0x0a, utf8("k")), ...delimited(0x12, utf8("2"))]),
      ]),
    ],
    ["value and key twice: the last wins", [0x12, 8, 0x0a, 1, 1, 0x0a, 1, 2, 0x12, 0]],
    ["a time field twice merges", [0x12, 8, 0x2a, 2, 0x08, 5, 0x2a, 2, 0x10, 7]],
    ["an empty time", [0x12, 2, 0x2a, 0]],
    ["negative nanos", [0x12, 13, 0x2a, 11, 0x10, ...varint(2n ** 64n - 1n)]],
  ];
  for (const [name, bytes] of cases) {
    const input = new Uint8Array(bytes);
    fromBinary(ProduceRequestSchema, input); // a valid encoding
    assert.ok(agreesOnBoth(input), `declined: ${name}`);
  }
  const max = decodeProduceRequestFast(new Uint8Array(cases[2]![1]))!;
  assert.equal(max.records[0]!.offset, 2n ** 64n - 1n);
  assert.equal(decodeProduceRequestFast(new Uint8Array(cases[6]![1]))!.topic, "topic");
  const time = decodeProduceRequestFast(new Uint8Array(cases[13]![1]))!.records[0]!.time;
  assert.deepEqual([time?.seconds, time?.nanos], [5n, 7]);
});

test("declines, for protobuf-es to decide, what is outside the common shape", () => {
  const cases: [string, number[]][] = [
    ["an unknown field", [0x18, 1]],
    ["an unknown field in a record", [0x12, 2, 0x30, 1]],
    ["a map entry with field 3", [0x12, 6, 0x1a, 4, 0x18, 1, 0x0a, 0]],
    ["a map key as a varint", [0x12, 5, 0x1a, 3, 0x08, 1, 0x61]],
    ["topic with wire type 0", [0x08, 1]],
    ["a non-minimal tag", [0x8a, 0x00, 1, 0x61]],
    ["a length with bits past 2^32", [0x0a, 0x80, 0x80, 0x80, 0x80, 0x10]],
    ["an offset with bits past 2^64", [0x12, 11, 0x20, ...Array(9).fill(0xff), 0x7f]],
    ["a value past its record", [0x12, 2, 0x0a, 3, 1, 2, 3]],
    ["a length past the end", [0x0a, 5, 0x61]],
    ["a truncated varint", [0x12, 3, 0x20, 0x80, 0x80]],
    ["an unknown field in a time", [0x12, 4, 0x2a, 2, 0x18, 1]],
    ["a __proto__ header", [0x12, 15, 0x1a, 13, ...delimited(0x0a, utf8("__proto__")), 0x12, 0]],
    ["invalid UTF-8", delimited(0x0a, [0x61, 0xff])],
    ["an encoded surrogate", delimited(0x0a, [0xed, 0xa0, 0x80])],
    ["an overlong encoding", delimited(0x0a, [0xc0, 0xaf])],
  ];
  for (const [name, bytes] of cases) {
    assert.equal(decodeProduceRequestFast(new Uint8Array(bytes)), undefined, name);
    assert.equal(agreesOnBoth(new Uint8Array(bytes)), false, name);
  }
});

// ---- 2. anything else ---------------------------------------------------------------------------

/** Bytes likely to be tags, lengths, varint continuations and UTF-8 of this message. */
const wireByte = fc.oneof(
  fc.integer({ min: 0, max: 255 }),
  fc.constantFrom(0x00, 0x01, 0x02, 0x03, 0x08, 0x0a, 0x10, 0x12, 0x1a, 0x20, 0x2a, 0x7f, 0x80),
  fc.constantFrom(0xff, 0xc0, 0xc3, 0xe0, 0xed, 0xa0, 0xef, 0xbb, 0xbf, 0xf0, 0xf4, 0x90),
);
const wireBytes = (maxLength: number) =>
  fc.array(wireByte, { maxLength }).map((bytes) => new Uint8Array(bytes));

/** Text bytes: valid UTF-8 of any string, or near-UTF-8 garbage. */
const textBytes = fc.oneof(
  textArbitrary.map(utf8),
  wireBytes(16),
  fc
    .array(
      fc.constantFrom(0x61, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xed, 0xa0, 0x80, 0xef, 0xbb, 0xbf),
      { maxLength: 16 },
    )
    .map((bytes) => new Uint8Array(bytes)),
);

/** Unknown or mis-typed fields, as they may appear in any message of the request. */
const oddField = fc.oneof(
  fc
    .tuple(fc.constantFrom(0x18, 0x08, 0x10, 0x30, 0x38, 0x80), fc.bigInt(0n, 2n ** 64n - 1n))
    .map(([tag, value]) => [...(tag === 0x80 ? [0x80, 0x01] : [tag]), ...varint(value)]),
  wireBytes(8).map((data) => delimited(0x7a, data)),
  fc.constant([0x1d, 1, 2, 3, 4]), // fixed32, field 3
  fc.constant([0x19, 1, 2, 3, 4, 5, 6, 7, 8]), // fixed64, field 3
  fc.constant([0x1b, 0x1c]), // an empty group, field 3
  fc.constant([0x8a, 0x00]), // field 1 with a non-minimal tag, empty
);

type Mutation = (bytes: Uint8Array) => Uint8Array;
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  // flip a byte
  fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })).map(
    ([at, mask]): Mutation =>
      (bytes) => {
        if (bytes.length === 0) return bytes;
        const copy = bytes.slice();
        copy[at % copy.length]! ^= mask;
        return copy;
      },
  ),
  // truncate
  fc.nat().map(
    (at): Mutation =>
      (bytes) =>
        bytes.subarray(0, at % (bytes.length + 1)),
  ),
  // append garbage
  wireBytes(12).map(
    (tail): Mutation =>
      (bytes) =>
        bytesOf([bytes, tail]),
  ),
  // insert garbage anywhere
  fc.tuple(fc.nat(), wireBytes(6)).map(
    ([at, data]): Mutation =>
      (bytes) => {
        const cut = at % (bytes.length + 1);
        return bytesOf([bytes.subarray(0, cut), data, bytes.subarray(cut)]);
      },
  ),
  // an unknown field in the request, in a new record, or in a header entry
  fc.tuple(oddField, fc.constantFrom("request", "record", "header")).map(
    ([field, where]): Mutation =>
      (bytes) => {
        if (where === "request") return bytesOf([field, bytes]);
        if (where === "record") return bytesOf([bytes, delimited(0x12, [0x0a, 1, 0x61, ...field])]);
        return bytesOf([
          bytes,
          delimited(0x12, delimited(0x1a, [...delimited(0x0a, utf8("k")), ...field])),
        ]);
      },
  ),
  // fields repeated: a second encoding appended, or two records merged into one
  requestArbitrary(3).map((other): Mutation => {
    const tail = toBinary(ProduceRequestSchema, other);
    return (bytes) => bytesOf([bytes, tail]);
  }),
  fc.tuple(recordArbitrary, recordArbitrary).map(([a, b]): Mutation => {
    const merged = bytesOf([toBinary(RecordSchema, a), toBinary(RecordSchema, b)]);
    return (bytes) => bytesOf([bytes, delimited(0x12, merged)]);
  }),
  // a topic or a header of arbitrary text bytes
  textBytes.map(
    (text): Mutation =>
      (bytes) =>
        bytesOf([bytes, delimited(0x0a, text)]),
  ),
  fc.tuple(textBytes, textBytes).map(
    ([key, value]): Mutation =>
      (bytes) =>
        bytesOf([
          bytes,
          delimited(0x12, delimited(0x1a, [...delimited(0x0a, key), ...delimited(0x12, value)])),
        ]),
  ),
);

test("never throws on arbitrary bytes, and what it returns is fromBinary's", () => {
  let accepted = 0;
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 64 }), wireBytes(64)), (bytes) => {
      if (agreesOnBoth(bytes)) accepted++;
    }),
    { numRuns: 3000 },
  );
  assert.ok(accepted > 0, "some arbitrary bytes are valid requests");
});

test("never throws on mutated encodings, and what it returns is fromBinary's", () => {
  let accepted = 0;
  let declined = 0;
  fc.assert(
    fc.property(
      requestArbitrary(4),
      fc.array(mutation, { minLength: 1, maxLength: 3 }),
      (request, mutations) => {
        const bytes = mutations.reduce<Uint8Array>(
          (b, mutate) => mutate(b),
          toBinary(ProduceRequestSchema, request),
        );
        if (agreesOnBoth(bytes)) accepted++;
        else declined++;
      },
    ),
    { numRuns: 1500 },
  );
  assert.ok(accepted > 100 && declined > 100, `accepted ${accepted}, declined ${declined}`);
});

test("strings: accepted exactly when they are UTF-8 (and no header is named __proto__)", () => {
  const strict = new TextDecoder("utf-8", { fatal: true });
  fc.assert(
    fc.property(textBytes, textBytes, textBytes, (topic, key, value) => {
      const input = bytesOf([
        delimited(0x0a, topic),
        delimited(0x12, delimited(0x1a, [...delimited(0x0a, key), ...delimited(0x12, value)])),
      ]);
      const valid =
        isUtf8(topic) && isUtf8(key) && isUtf8(value) && strict.decode(key) !== "__proto__";
      assert.equal(agreesOnBoth(input), valid);
    }),
    { numRuns: 2000 },
  );
});

test("Buffer decoding puts U+FFFD in the text of every invalid UTF-8 (the decoder relies on it)", () => {
  const two = Buffer.alloc(2);
  for (let pair = 0; pair < 0x10000; pair++) {
    two.writeUInt16BE(pair);
    if (!isUtf8(two)) assert.ok(two.toString("utf8").includes("\uFFFD"), two.toString("hex"));
  }
  fc.assert(
    fc.property(fc.oneof(wireBytes(12), textBytes), (bytes) => {
      const buffer = Buffer.from(bytes);
      if (!isUtf8(buffer)) assert.ok(buffer.toString("utf8").includes("\uFFFD"));
    }),
    { numRuns: 5000 },
  );
});

// ---- the route's use ----------------------------------------------------------------------------

test("decodeValidProduceRequest takes the fast path and keeps protobuf-es's errors", () => {
  const validator = createValidator();
  const request = create(ProduceRequestSchema, {
    topic: "orders",
    records: [{ value: utf8("v"), headers: { "content-type": "text/plain" } }],
  });
  const bytes = Buffer.from(toBinary(ProduceRequestSchema, request));
  assert.deepEqual(
    decodeValidProduceRequest(bytes, validator, defaultApiLimits),
    fromBinary(ProduceRequestSchema, bytes),
  );
  // Declined by the fast decoder, decoded by protobuf-es (with the unknown field kept).
  const unknown = Buffer.from([...bytes, 0x18, 1]);
  assert.deepEqual(
    decodeValidProduceRequest(unknown, validator, defaultApiLimits),
    fromBinary(ProduceRequestSchema, unknown),
  );
  // Malformed: protobuf-es's parse error, as before.
  const malformed = Buffer.from([0x0a, 5, 0x61]);
  let expected = "";
  try {
    fromBinary(ProduceRequestSchema, malformed);
  } catch (error) {
    expected = `parse binary: ${(error as Error).message}`;
  }
  assert.throws(
    () => decodeValidProduceRequest(malformed, validator, defaultApiLimits),
    (error) =>
      error instanceof ConnectError &&
      error.code === Code.InvalidArgument &&
      error.rawMessage === expected,
  );
  // Decoded fast, then refused by validation as before.
  const invalid = Buffer.from(
    toBinary(ProduceRequestSchema, create(ProduceRequestSchema, { topic: ".." })),
  );
  assert.notEqual(decodeProduceRequestFast(invalid), undefined);
  assert.throws(
    () => decodeValidProduceRequest(invalid, validator, defaultApiLimits),
    (error) => error instanceof ConnectError && error.code === Code.InvalidArgument,
  );
});

// ---- 3. microbenchmark (printed, not asserted) --------------------------------------------------

test("microbenchmark: fast decoder vs fromBinary", () => {
  const request = (records: number, size: number) =>
    Buffer.from(
      toBinary(
        ProduceRequestSchema,
        create(ProduceRequestSchema, {
          topic: "bench-topic",
          records: Array.from({ length: records }, (_, i) => ({
            value: new Uint8Array(size).fill(i),
          })),
        }),
      ),
    );
  /** µs per call over up to 10,000 calls, stopping at 120 ms (under 1 s for all four). */
  const measure = (decode: () => unknown) => {
    for (let i = 0; i < 100; i++) decode();
    const start = process.hrtime.bigint();
    let calls = 0;
    let elapsed = 0;
    while (calls < 10_000 && elapsed < 120e6) {
      for (let i = 0; i < 100; i++) decode();
      calls += 100;
      elapsed = Number(process.hrtime.bigint() - start);
    }
    return elapsed / calls / 1000;
  };
  for (const [name, bytes] of [
    ["1 record of 1 KiB", request(1, 1024)],
    ["100 records of 100 B", request(100, 100)],
  ] as const) {
    const fast = measure(() => decodeProduceRequestFast(bytes));
    const reflective = measure(() => fromBinary(ProduceRequestSchema, bytes));
    console.log(
      `decode ${name}: fast ${fast.toFixed(2)} µs, fromBinary ${reflective.toFixed(2)} µs ` +
        `(${(reflective / fast).toFixed(1)}x)`,
    );
  }
});
