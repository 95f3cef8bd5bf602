// Child process of h2-round-trip.ts: a bare node:http2 server on 127.0.0.1 that answers every
// request, once its body has ended, like a gRPC unary call: headers, a 5-byte message, trailers.
// It reports its port over IPC and exits when the parent disconnects.
import http2 from "node:http2";

const answer = Buffer.alloc(5);
const server = http2.createServer();
server.on("stream", (stream) => {
  stream.on("error", () => undefined);
  stream.on("data", () => undefined);
  stream.on("end", () => {
    stream.respond(
      { ":status": 200, "content-type": "application/grpc" },
      { waitForTrailers: true },
    );
    stream.once("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
    stream.end(answer);
  });
});
server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  process.send?.(typeof address === "object" && address !== null ? address.port : 0);
});
process.on("disconnect", () => process.exit(0));
