// A raw WebSocket client (the `ws` package, as the replaced servers' users run) driven by the RoomHub test suite.
// Usage: node legacy-client.mjs <ws-url>
// stdin:  one JSON command per line: {"op":"frame","frame":"<text to send as one frame>"} | {"op":"stop"}
// stdout: one JSON event per line:   {"event":"ready"} | {"event":"frame","data":"<received text>"} | {"event":"closed","code":1000}
import WebSocket from "ws";
import { createInterface } from "node:readline";

const emit = (event) => process.stdout.write(JSON.stringify(event) + "\n");
const socket = new WebSocket(process.argv[2]);

socket.on("open", () => emit({ event: "ready" }));
socket.on("message", (data) => emit({ event: "frame", data: data.toString("utf8") }));
socket.on("close", (code) => {
  emit({ event: "closed", code });
  process.exit(0);
});
socket.on("error", (error) => {
  emit({ event: "error", error: String(error.message ?? error) });
  process.exit(1);
});

createInterface({ input: process.stdin }).on("line", (line) => {
  if (line.trim().length === 0) return;
  const command = JSON.parse(line);
  if (command.op === "stop") socket.close(1000);
  else socket.send(command.frame);
});
process.stdin.on("end", () => socket.close(1000));
