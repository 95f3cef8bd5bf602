// The long form of the hostile-input and slow-reader scenarios (`npm run soak`): the same tests
// with ten times the dropped streams and three times the bytes past stalled readers, unless the
// environment already says how many (RELIABILITY_STREAMS, RELIABILITY_SLOW_MB).
process.env.RELIABILITY_STREAMS ??= "50000";
process.env.RELIABILITY_SLOW_MB ??= "120";
await import("./hostile-input.test.js");
await import("./slow-reader.test.js");
