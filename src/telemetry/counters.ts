/**
 * Plain numeric counters: the hot path increments fields, telemetry reads them.
 * Every component reports its counters one way, through a CounterVisitor, so
 * carbon self-metrics and any other exporter read the same list; a counter's
 * name is its field name, and each class's table below is checked against its
 * fields by the compiler.
 */

/**
 * `counter`: only grows (self-metrics sends per-interval deltas, as carbon
 * does); `gauge`: a current value; `peak`: the largest value since the last
 * self-metrics interval (the reader resets it with resetPeaks()).
 */
export type CounterKind = 'counter' | 'gauge' | 'peak';

/** Visits one value; `key` is relative to the reporter's path (`sent`, `apiErrors.timeout`). */
export type CounterVisitor = (key: string, value: number, kind: CounterKind) => void;

/** A component whose counters self-metrics (and later exporters) read. */
export interface CounterReporter {
  /** Below the self-metrics prefix: '' for relay-wide counters, `destinations.<metricName>`, `sources.<name>`. */
  readonly counterPath: string;
  reportCounters(visit: CounterVisitor): void;
  /** Start a new interval for `peak` values. */
  resetPeaks?(): void;
}

/** Every numeric field of a counters class, with its kind. */
export type CounterTable<C> = { readonly [K in keyof C as C[K] extends number ? K : never]: CounterKind };

/** Reports the fields `table` lists (in its order). */
export function visitCounters<C>(counters: C, table: Partial<CounterTable<C>>, visit: CounterVisitor): void {
  for (const key in table) visit(key, counters[key as keyof C] as number, table[key as keyof typeof table] as CounterKind);
}

/**
 * Relay-wide ingest counters. Each datapoint that does not reach a destination
 * queue lands in exactly one of the drop counters.
 */
export class IngestCounters {
  /** Datapoints accepted from receivers (carbon's metricsReceived). */
  metricsReceived = 0;
  /** Lines that are not `name value timestamp` with float()-parsable numbers (incl. blank lines, invalid UTF-8). */
  invalidLines = 0;
  /** Lines over the length limit, skipped to their newline. */
  lineTooLong = 0;
  /** Unterminated final lines at connection close (never processed, as in carbon). */
  incompleteLines = 0;
  /** Datapoints whose timestamp is NaN or infinite. */
  invalidTimestamps = 0;
  /** Datapoints whose value is NaN (carbon drops these silently). */
  nanValues = 0;
  /** Plaintext lines without a timestamp (a listener's timestampOptional) that were given the relay's clock: accepted, not dropped. */
  timestampsAssigned = 0;
  /** Pickle frames rejected whole (bad opcode, truncated, forbidden opcode). */
  invalidPickles = 0;
  /** Pickle frames over the size limit, skipped. */
  pickleTooLong = 0;
  /** Pickle frames rejected whole for nesting deeper than the decoder's limit (carbon's frames are two levels deep). */
  pickleTooDeep = 0;
  /** Items inside accepted pickle frames that were skipped (bad shape, non-string name, non-numeric). */
  invalidPickleItems = 0;
  /** Names that would corrupt the line protocol (empty, whitespace, control characters). */
  invalidNames = 0;
  /** Datapoints whose name is over listen.maxNameLength UTF-8 bytes. */
  nameTooLong = 0;
  /** validation: strict: datapoints whose name has an empty path component (`a..b`, `.lead`, `trail.`). */
  invalidNameEmptyComponent = 0;
  /** validation: strict: datapoints whose name has a character outside listen.strict.allowedCharacters. */
  invalidNameCharacter = 0;
  /** validation: strict: datapoints whose name is over listen.strict.maxLength. */
  invalidNameStrictLength = 0;
  /** Datapoints whose name a rewrite rule changed (and that were routed). */
  rewritten = 0;
  /** Datapoints dropped because a rewrite made their name empty, unsafe or over maxNameLength. */
  invalidRewrites = 0;
  /** Datapoints matched by a rule with no destinations (an explicit blackhole). */
  blackholed = 0;
  /** Datapoints whose name matched the blacklist (carbon's blacklistMatches). */
  blacklistMatches = 0;
  /** Datapoints whose name was not in a non-empty whitelist (carbon's whitelistRejects). */
  whitelistRejects = 0;
  /** Tag normalisation was on and the name's tags did not parse; routed as received. */
  invalidTags = 0;
  /** HTTP requests answered (any status). */
  httpRequests = 0;
  /** Datapoints named in a 400 answer (bad name, value or timestamp). */
  httpInvalidItems = 0;
  /** Requests refused for missing or wrong credentials or a client address outside the allow-list. */
  httpUnauthorized = 0;
  /** Requests answered 429 by the per-client rate limit. */
  httpRateLimited = 0;
  /** Requests answered 503 because destinations were not keeping up. */
  httpOverloaded = 0;
  /** Requests refused whole for another reason (malformed body, too large, bad signature). */
  httpBadRequests = 0;
  /** collectd values that were null (NaN gauges) and notifications, skipped. */
  httpSkippedItems = 0;
  /** /imp sums of finite values that overflowed to infinity in a flush interval; that datapoint was dropped. */
  httpImpulseOverflows = 0;
  /** Current TCP receiver connections. */
  activeConnections = 0;
  /** TCP/TLS receiver connections refused because the listener held maxConnections. */
  connectionsRefused = 0;
  /** TCP/TLS receiver connections refused because their client address held maxConnectionsPerClient. */
  connectionsRefusedPerClient = 0;
  /** Receiver connections closed after idleTimeout without a complete line or frame (TLS: handshake not done in time). */
  idleTimeouts = 0;
  /** listen.proxyProtocol: connections closed because they did not start with a valid PROXY protocol header. */
  proxyProtocolErrors = 0;
  /** TLS receiver connections whose handshake failed (not TLS, no common protocol, a client certificate missing or not signed by the client CA); timeouts count as idleTimeouts. */
  tlsHandshakeFailures = 0;
  /** Connections half-closed at listen.maxConnectionAge (the client then closes and reconnects; nothing is cut). */
  connectionsAged = 0;
  /** Configuration reloads applied. */
  reloadsApplied = 0;
  /** Reloads refused because the new configuration is invalid (the relay kept the old one). */
  reloadsFailed = 0;
  /** Reloads not applied because they change something only a restart can (dataDir, turning the admin listener on or off). */
  reloadsRestartRequired = 0;
}

export class DestinationCounters {
  /** Datapoints routed here, including ones dropped (carbon's attemptedRelays). */
  attemptedRelays = 0;
  /** Datapoints written to the connection and handed to the operating system (a chunk still in Node's buffer is not sent yet). */
  sent = 0;
  /** Frames (pickle) or write batches (line) written. */
  batchesSent = 0;
  /** Dropped because the queue was at maxQueueSize. */
  fullQueueDrops = 0;
  /** Routed while there was no connection. */
  queuedUntilConnected = 0;
  /** Largest queue length seen at enqueue time. */
  relayMaxQueueLength = 0;
  /** Still queued when shutdown's deadline passed. */
  undeliveredAtShutdown = 0;
  /** Connection attempts that failed (refused, TLS verification, timeout). */
  connectFailures = 0;
  /** Connections established. */
  connects = 0;
  /** Moved to another member of a failover or any_of group while this one was down. */
  handedOver = 0;
  /** Dropped because one datapoint alone was over maxFrameBytes / maxLineBytes (carbon would hang up on it). */
  oversizedDrops = 0;
  /** Written to a connection that closed before they left Node's buffer (not counted as sent). */
  lostInFlight = 0;
  /** Connections the peer closed after we had written to them (carbon's way of rejecting input, or a restart). */
  closedByPeer = 0;
  /** Times the destination stopped holding receivers because it held them stallTimeout in all. */
  stalls = 0;
  /** Refused for good by the peer after they were written (a Kafka broker's permanent error, such as a record too large for the topic). */
  rejected = 0;
  /** maxRate: times the writer stopped until it may send more. */
  rateLimitWaits = 0;
  /** maxRate: seconds the writer spent stopped (datapoints waited in the queue meanwhile). */
  rateLimitedSeconds = 0;
}

/** Reported by every relay (carbon's names where carbon has the counter). */
const INGEST_COUNTERS = {
  metricsReceived: 'counter',
  invalidLines: 'counter',
  lineTooLong: 'counter',
  incompleteLines: 'counter',
  invalidTimestamps: 'counter',
  nanValues: 'counter',
  timestampsAssigned: 'counter',
  invalidPickles: 'counter',
  pickleTooLong: 'counter',
  pickleTooDeep: 'counter',
  invalidPickleItems: 'counter',
  invalidNames: 'counter',
  nameTooLong: 'counter',
  invalidNameEmptyComponent: 'counter',
  invalidNameCharacter: 'counter',
  invalidNameStrictLength: 'counter',
  rewritten: 'counter',
  invalidRewrites: 'counter',
  blackholed: 'counter',
  blacklistMatches: 'counter',
  whitelistRejects: 'counter',
  invalidTags: 'counter',
  activeConnections: 'gauge',
  connectionsRefused: 'counter',
  connectionsRefusedPerClient: 'counter',
  idleTimeouts: 'counter',
  proxyProtocolErrors: 'counter',
  tlsHandshakeFailures: 'counter',
  connectionsAged: 'counter',
  reloadsApplied: 'counter',
  reloadsFailed: 'counter',
  reloadsRestartRequired: 'counter',
} as const;

/** Reported only when the HTTP front door is enabled. */
const HTTP_COUNTERS = {
  httpRequests: 'counter',
  httpInvalidItems: 'counter',
  httpUnauthorized: 'counter',
  httpRateLimited: 'counter',
  httpOverloaded: 'counter',
  httpBadRequests: 'counter',
  httpSkippedItems: 'counter',
  httpImpulseOverflows: 'counter',
} as const;

// The compiler checks that the two tables together list every field.
({ ...INGEST_COUNTERS, ...HTTP_COUNTERS }) satisfies CounterTable<IngestCounters>;

/**
 * HTTP front door answers by endpoint group and status code: both bounded
 * sets (the configured groups plus `health` and `none` for requests no group
 * took; the status codes the app answers with). Reported as
 * `httpResponses.<group>.<status>`.
 */
export class HttpResponseCounts {
  static readonly PREFIX = 'httpResponses.';
  private readonly counts = new Map<string, number>();

  count(group: string, status: number): void {
    const key = `${group}.${status}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  report(visit: CounterVisitor): void {
    for (const [key, n] of this.counts) visit(HttpResponseCounts.PREFIX + key, n, 'counter');
  }
}

/** The relay-wide counters as a reporter (HTTP counters, and answers by group and status, only when the front door is on). */
export function ingestCounterReporter(counters: IngestCounters | (() => IngestCounters), http: boolean | (() => boolean), responses?: HttpResponseCounts): CounterReporter {
  const read = typeof counters === 'function' ? counters : () => counters;
  return {
    counterPath: '',
    reportCounters(visit) {
      const c = read();
      visitCounters(c, INGEST_COUNTERS, visit);
      if (!(typeof http === 'function' ? http() : http)) return;
      visitCounters(c, HTTP_COUNTERS, visit);
      responses?.report(visit);
    },
  };
}

/** What a receiver speaks: the `protocol` label of its counters. */
export type ListenerProtocol = 'line' | 'pickle' | 'http' | 'pull';

/** One receiver's share of the ingest counters. */
export interface ListenerCounterEntry {
  /** The listener's name (`line`, `line-tls`, `line-udp`, `pickle`, `http`; `sources` for the pull sources together): the `listener` label. */
  readonly name: string;
  readonly protocol: ListenerProtocol;
  readonly counters: IngestCounters;
}

/**
 * The ingest counters split by who counted them: one IngestCounters per
 * receiver (what it received, rejected and refused), and the relay's own for
 * everything else (pull sources, reloads). Relay-wide figures, carbon's
 * self-metrics among them, are the sum. An entry belongs to the listener's
 * name, not to the listener object, so a listener a reload rebinds keeps
 * counting where the old one stopped (counters never go backwards).
 */
export class IngestCounterSet {
  readonly relay = new IngestCounters();
  /** The HTTP front door's answers; kept here so a rebuilt HTTP listener counts on. */
  readonly httpResponses = new HttpResponseCounts();
  private readonly byListener = new Map<string, ListenerCounterEntry>();

  /** The counters of the listener called `name` (created on first use). */
  listener(name: string, protocol: ListenerProtocol): IngestCounters {
    let e = this.byListener.get(name);
    if (e === undefined) this.byListener.set(name, (e = { name, protocol, counters: new IngestCounters() }));
    return e.counters;
  }

  get listeners(): readonly ListenerCounterEntry[] {
    return [...this.byListener.values()];
  }

  /** A snapshot of the relay-wide sums. */
  total(): IngestCounters {
    const sum = new IngestCounters();
    const fields = Object.keys(sum) as (keyof IngestCounters)[];
    for (const c of [this.relay, ...[...this.byListener.values()].map((e) => e.counters)]) for (const f of fields) sum[f] += c[f];
    return sum;
  }
}

/** carbon's per-destination names, plus ours. */
export const DESTINATION_COUNTERS = {
  attemptedRelays: 'counter',
  sent: 'counter',
  batchesSent: 'counter',
  fullQueueDrops: 'counter',
  queuedUntilConnected: 'counter',
  relayMaxQueueLength: 'peak',
  undeliveredAtShutdown: 'counter',
  connectFailures: 'counter',
  connects: 'counter',
  handedOver: 'counter',
  oversizedDrops: 'counter',
  lostInFlight: 'counter',
  closedByPeer: 'counter',
  stalls: 'counter',
  rejected: 'counter',
  rateLimitWaits: 'counter',
  rateLimitedSeconds: 'counter',
} as const satisfies CounterTable<DestinationCounters>;
