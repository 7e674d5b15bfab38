// A warmline connector in TypeScript: it subscribes to events at warmline's connector gateway over
// gRPC (proto/warmline/v1/connector.proto, loaded at run time), writes each event as one JSON line
// and acknowledges it. Events whose subject starts with "nack-once" are refused once (a retryable
// nack) to show that warmline delivers them again.
//
//   npx tsx src/main.ts [host:port]
//
// Environment (all optional but the token):
//   WARMLINE_GATEWAY          the gateway's host:port when not given as an argument (127.0.0.1:50052)
//   WARMLINE_CONNECTOR_TOKEN  the gateway's `token` secret (or its `token.<name>` one)
//   WARMLINE_CONNECTOR_NAME   which connector this process is (ts-example)
//   WARMLINE_EVENT_TYPES      comma-separated type patterns (io.warmline.handoff.*)
//   WARMLINE_OUTPUT           append the JSON lines to this file instead of stdout; ids already in
//                             it are acknowledged without being written again
//   WARMLINE_ACK_DELAY_MS     wait this long before each ack, like a slow target system (0)
//   WARMLINE_PROTO            path of connector.proto, when not run from the warmline repository

import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

// The messages as @grpc/proto-loader decodes them with the options below (keepCase, defaults,
// oneofs): field names as in the proto, bytes as Buffer, and `message` naming the oneof member.
interface CloudEvent {
  id: string;
  type: string;
  source: string;
  subject: string;
  time: string;
  datacontenttype: string;
  data: Buffer;
}

interface Delivery {
  delivery_id: string;
  attempt: number;
  event: CloudEvent | null;
}

type SubscribeRequest =
  | { subscription: { connector_name: string; token: string; event_types: string[] } }
  | { ack: { delivery_id: string } }
  | { nack: { delivery_id: string; reason: string; permanent: boolean } };

interface Settings {
  address: string;
  token: string;
  name: string;
  eventTypes: string[];
  output: string | undefined;
  ackDelayMs: number;
  protoPath: string;
}

// Status codes that reconnecting cannot fix: the configuration is wrong.
const FATAL = new Set([grpc.status.UNAUTHENTICATED, grpc.status.INVALID_ARGUMENT]);
const RECONNECT_MIN_MS = 200;
const RECONNECT_MAX_MS = 5_000;

function settingsFrom(argv: string[], env: NodeJS.ProcessEnv): Settings {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const token = env.WARMLINE_CONNECTOR_TOKEN;
  if (!token) {
    throw new Error("set WARMLINE_CONNECTOR_TOKEN to the gateway's token secret");
  }
  return {
    address: argv[2] ?? env.WARMLINE_GATEWAY ?? "127.0.0.1:50052",
    token,
    name: env.WARMLINE_CONNECTOR_NAME ?? "ts-example",
    eventTypes: (env.WARMLINE_EVENT_TYPES ?? "io.warmline.handoff.*")
      .split(",")
      .map((pattern) => pattern.trim())
      .filter((pattern) => pattern !== ""),
    output: env.WARMLINE_OUTPUT || undefined,
    ackDelayMs: Number(env.WARMLINE_ACK_DELAY_MS ?? "0"),
    protoPath:
      env.WARMLINE_PROTO ??
      path.resolve(here, "../../../../proto/warmline/v1/connector.proto"),
  };
}

function log(message: string): void {
  process.stderr.write(`[ts-connector] ${message}\n`);
}

// Where the JSON lines go. Written synchronously, so a line is on disk (or in the pipe) before
// its event is acknowledged; ids already in the output file make the sink idempotent, since an
// event may be delivered again after its line was written but before its ack arrived.
class Sink {
  private readonly fd: number;
  private readonly written = new Set<string>();

  constructor(output: string | undefined) {
    if (output === undefined) {
      this.fd = 1;
      return;
    }
    if (fs.existsSync(output)) {
      for (const line of fs.readFileSync(output, "utf8").split("\n")) {
        if (line.trim() !== "") {
          this.written.add((JSON.parse(line) as { id: string }).id);
        }
      }
    }
    this.fd = fs.openSync(output, "a");
  }

  write(delivery: Delivery, event: CloudEvent): void {
    if (this.written.has(event.id)) {
      return;
    }
    const line = {
      id: event.id,
      type: event.type,
      source: event.source,
      subject: event.subject,
      time: event.time,
      attempt: delivery.attempt,
      data: JSON.parse(event.data.toString("utf8")) as unknown,
    };
    fs.writeSync(this.fd, `${JSON.stringify(line)}\n`);
    this.written.add(event.id);
  }
}

function loadSubscribe(protoPath: string): grpc.MethodDefinition<SubscribeRequest, Delivery> {
  const definition = protoLoader.loadSync(protoPath, {
    keepCase: true,
    longs: Number,
    defaults: true,
    oneofs: true,
  });
  const service = definition["warmline.v1.ConnectorGateway"] as grpc.ServiceDefinition;
  const method = service["Subscribe"];
  if (method === undefined) {
    throw new Error(`${protoPath} has no ConnectorGateway.Subscribe`);
  }
  return method as grpc.MethodDefinition<SubscribeRequest, Delivery>;
}

const sleep = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));

// One stream: subscribe, handle deliveries until it ends. Resolves with how it ended.
function subscribeOnce(
  client: grpc.Client,
  method: grpc.MethodDefinition<SubscribeRequest, Delivery>,
  settings: Settings,
  sink: Sink,
  onSubscribed: () => void,
): { done: Promise<grpc.StatusObject>; call: grpc.ClientDuplexStream<SubscribeRequest, Delivery> } {
  const call = client.makeBidiStreamRequest<SubscribeRequest, Delivery>(
    method.path,
    method.requestSerialize,
    method.responseDeserialize,
  );
  let chain = Promise.resolve();
  call.on("metadata", (metadata: grpc.Metadata) => {
    if (metadata.get("warmline-subscribed").length > 0) {
      onSubscribed();
      log(`subscribed as ${settings.name} to ${settings.eventTypes.join(", ")}`);
    }
  });
  call.on("data", (delivery: Delivery) => {
    // One delivery after another, so the output keeps the order the gateway sent.
    chain = chain.then(() => handle(call, delivery, settings, sink));
  });
  const done = new Promise<grpc.StatusObject>((resolve) => {
    call.on("status", resolve);
    call.on("error", () => {
      // The status event carries the same code; without this listener the error would throw.
    });
  });
  call.write({
    subscription: {
      connector_name: settings.name,
      token: settings.token,
      event_types: settings.eventTypes,
    },
  });
  return { done, call };
}

async function handle(
  call: grpc.ClientDuplexStream<SubscribeRequest, Delivery>,
  delivery: Delivery,
  settings: Settings,
  sink: Sink,
): Promise<void> {
  const event = delivery.event;
  if (event === null) {
    call.write({
      nack: { delivery_id: delivery.delivery_id, reason: "delivery without event", permanent: true },
    });
    return;
  }
  if (event.subject.startsWith("nack-once") && delivery.attempt === 1) {
    log(`nack ${event.id} (${event.subject}), attempt ${delivery.attempt}`);
    call.write({
      nack: {
        delivery_id: delivery.delivery_id,
        reason: "nack-once: refused on the first attempt",
        permanent: false,
      },
    });
    return;
  }
  sink.write(delivery, event);
  if (settings.ackDelayMs > 0) {
    await sleep(settings.ackDelayMs);
  }
  call.write({ ack: { delivery_id: delivery.delivery_id } });
}

async function main(): Promise<number> {
  const settings = settingsFrom(process.argv, process.env);
  const method = loadSubscribe(settings.protoPath);
  const sink = new Sink(settings.output);
  const client = new grpc.Client(settings.address, grpc.credentials.createInsecure());
  let stopping = false;
  let current: grpc.ClientDuplexStream<SubscribeRequest, Delivery> | undefined;
  const stop = (): void => {
    stopping = true;
    current?.cancel();
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);

  let backoff = RECONNECT_MIN_MS;
  while (!stopping) {
    const { done, call } = subscribeOnce(client, method, settings, sink, () => {
      backoff = RECONNECT_MIN_MS;
    });
    current = call;
    const status = await done;
    if (stopping) {
      break;
    }
    if (FATAL.has(status.code)) {
      log(`the gateway refused the subscription: ${grpc.status[status.code]}: ${status.details}`);
      client.close();
      return 2;
    }
    log(`stream ended (${grpc.status[status.code]}: ${status.details}); reconnecting`);
    await sleep(backoff);
    backoff = Math.min(backoff * 2, RECONNECT_MAX_MS);
  }
  client.close();
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    log(error instanceof Error ? error.message : String(error));
    process.exit(1);
  },
);
