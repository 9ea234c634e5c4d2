// A real @microsoft/signalr client driven over stdin/stdout by the RoomHub test suite.
// Usage: node signalr-client.mjs <hub-url> [reconnect]   ("reconnect": built with withAutomaticReconnect, nothing else)
// stdin:  one JSON command per line: {"op":"subscribe"|"unsubscribe","room":...} | {"op":"send","room":...,"message":...} | {"op":"stop"}
// stdout: one JSON event per line:   {"event":"ready"} | {"event":"message","message":{...}} | {"event":"done","op":...,"result":...} | {"event":"failed","op":...,"error":...}
import * as signalR from "@microsoft/signalr";
import { createInterface } from "node:readline";

const url = process.argv[2];
const emit = (event) => process.stdout.write(JSON.stringify(event) + "\n");

let builder = new signalR.HubConnectionBuilder()
  .withUrl(url, { skipNegotiation: true, transport: signalR.HttpTransportType.WebSockets })
  .configureLogging(signalR.LogLevel.None);
if (process.argv[3] === "reconnect") {
  builder = builder.withAutomaticReconnect([0, 250, 500, 1000, 1000, 2000, 2000, 2000]);
}
const connection = builder.build();
connection.onreconnecting(() => emit({ event: "reconnecting" }));
connection.onreconnected(() => emit({ event: "reconnected" }));

connection.on("ReceiveMessage", (message) => emit({ event: "message", message }));

const methods = { subscribe: "Subscribe", unsubscribe: "Unsubscribe", send: "SendMessage" };

async function run(command) {
  if (command.op === "stop") {
    await connection.stop();
    process.exit(0);
  }
  const args = command.op === "send" ? [command.room, command.message] : [command.room];
  try {
    const result = await connection.invoke(methods[command.op], ...args);
    emit({ event: "done", op: command.op, result: result ?? null });
  } catch (error) {
    emit({ event: "failed", op: command.op, error: String(error.message ?? error) });
  }
}

await connection.start();
emit({ event: "ready" });

// Commands run one after another, so a test that sends in order gets its messages published in order.
let queue = Promise.resolve();
createInterface({ input: process.stdin }).on("line", (line) => {
  if (line.trim().length === 0) return;
  const command = JSON.parse(line);
  queue = queue.then(() => run(command));
});
process.stdin.on("end", () => queue.then(() => connection.stop()).then(() => process.exit(0)));
