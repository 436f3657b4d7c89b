import { z } from 'zod';
import { parseCidr } from '../common/cidr';
import { destinationSchema } from './destinations';
import { DEFAULT_STRICT_CHARACTERS, DEFAULT_STRICT_MAX_LENGTH, NAME_VALIDATION_LEVELS, parseCharacterSet } from '../codec/name-validation';
import { byteSize, duration, kafkaBrokers, kafkaProperties, kafkaSasl, kafkaTls, kafkaTopic, lineListenAddress, lineTcpListen, lineTlsListen, port, tcpListen, tlsListen } from './schema-types';

export {
  destinationSchema,
  type DestinationConfig,
  type DestinationKind,
  type CarbonDestinationConfig,
  spoolMode,
  type FileDestinationConfig,
  type KafkaDestinationConfig,
  type NetworkDestinationConfig,
} from './destinations';
export { duration } from './schema-types';

export const hashTypes = ['carbon_ch', 'fnv1a_ch', 'mmh3_ch', 'jump_fnv1a_ch'] as const;

/** A set of destinations that splits metrics between its members by hash, usable as a rule target. */
/** Groups that pick members by their health rather than by hash (carbon-c-relay's failover and any_of). */
export const healthGroupTypes = ['failover', 'any_of'] as const;

export const groupSchema = z
  .strictObject({
    name: z.string().regex(/^[A-Za-z0-9_.:-]+$/, 'use letters, digits, and _ . : -'),
    /**
     * carbon_ch/fnv1a_ch/mmh3_ch are carbon's rings; jump_fnv1a_ch is carbon-c-relay's jump hash;
     * failover sends everything to the first healthy member; any_of spreads names over the healthy members.
     */
    type: z.enum([...hashTypes, ...healthGroupTypes]).default('carbon_ch'),
    /** carbon's RELAY_METHOD flavours: consistent (default), fast (fast-hashing), plus aggregated over aggregation rules. */
    ring: z.enum(['consistent', 'fast']).default('consistent'),
    replication: z.number().int().min(1).default(1),
    /** Replicas on distinct hosts (carbon's DIVERSE_REPLICAS). */
    diverse: z.boolean().default(true),
    /** Destination names. */
    members: z.array(z.string().min(1)).min(1),
    /**
     * The order members join a carbon_ch/fnv1a_ch/mmh3_ch ring, which decides who owns a position two replicas
     * hash to (a few series per thousand). `sorted` (by host, then instance): the same ring however the config
     * lists them, so relays behind a balancer agree. `listed`: carbon's DESTINATIONS order (carbon.conf mode
     * uses it, to place every series as the carbon-relay it replaces does). jump_fnv1a_ch orders by instance.
     */
    memberOrder: z.enum(['sorted', 'listed']).default('sorted'),
    /** carbon's aggregated-consistent-hashing: hash on the aggregate names of this aggregation-rules.conf. */
    aggregationRules: z.string().min(1).optional(),
  })
  .superRefine((g, ctx) => {
    if (g.type === 'jump_fnv1a_ch' && g.ring === 'fast') ctx.addIssue({ code: 'custom', path: ['ring'], message: 'jump_fnv1a_ch has no fast variant' });
    if (g.type === 'failover' || g.type === 'any_of') {
      const hashOnly = g.aggregationRules !== undefined ? 'aggregationRules' : g.replication !== 1 ? 'replication' : g.ring !== 'consistent' ? 'ring' : undefined;
      if (hashOnly !== undefined) ctx.addIssue({ code: 'custom', path: [hashOnly], message: `only hash groups take ${hashOnly}` });
    }
  });

const nameValidation = z.enum(NAME_VALIDATION_LEVELS).default('carbon');

const cidr = z.string().refine((s) => parseCidr(s) !== undefined, 'expected an address or CIDR block, like 10.0.0.0/8 or ::1');

/** Who may use an endpoint group. No keys, users or tokens configured means no credentials are asked for. */
export const httpAuthSchema = z.strictObject({
  /** Accepted as the Basic username with an empty password (`key` or `key:`, as Hosted Graphite clients send) or as a Bearer token. */
  apiKeys: z.array(z.string().min(1)).default([]),
  /** Basic user/password pairs (Backstop's BACKSTOP_AUTH). */
  users: z.array(z.strictObject({ user: z.string().min(1), password: z.string() })).default([]),
  /** Client addresses allowed (CIDR); empty allows any. */
  allow: z.array(cidr).default([]),
});

const endpointGroup = <T extends z.ZodRawShape>(shape: T) =>
  z.strictObject({
    enabled: z.boolean().default(true),
    /** Overrides `http.auth` for this group. */
    auth: httpAuthSchema.optional(),
    ...shape,
  });

export const httpSchema = z.strictObject({
  /** Largest request body on the wire, in bytes (413 beyond). */
  maxBodySize: z.number().int().positive().default(1_048_576),
  /** Largest body after gzip/deflate decoding, in bytes (413 beyond). */
  maxDecompressedSize: z.number().int().positive().default(16_777_216),
  /** Most datapoints (lines, JSON items, collectd values) in one request (413 beyond). */
  maxItems: z.number().int().positive().default(100_000),
  /** Per client address; 429 with Retry-After beyond. */
  rateLimit: z.strictObject({ requestsPerSecond: z.number().positive(), burst: z.number().int().positive().optional() }).optional(),
  /**
   * Proxies whose X-Forwarded-For names the client: addresses or CIDRs; true
   * means loopback only (a proxy on this host), never every peer; false none.
   */
  trustProxy: z.union([z.boolean(), z.array(cidr)], { error: 'expected true (loopback proxies only), false, or a list of proxy addresses/CIDRs' }).default(false),
  /** Access-Control-Allow-Origin for the beacon endpoints: `*` or a list of origins. */
  cors: z.union([z.literal('*'), z.array(z.string().min(1))]).optional(),
  /** Default for every group. */
  auth: httpAuthSchema.optional(),
  /** /feed, /imp, /tdiff (ggtd's carbon-http-srv). */
  feed: endpointGroup({
    flushInterval: duration.default(60_000),
    /** An impulse counter not hit for this many flushes is forgotten; until then it sends 0 (0 = never send zeros). */
    idleFlushes: z.number().int().min(0).default(5),
    maxCounters: z.number().int().positive().default(100_000),
    maxEvents: z.number().int().positive().default(100_000),
    /** A /tdiff event not seen for this long is forgotten; its next call only records. */
    eventTtl: duration.default(86_400_000),
  }).default({ enabled: true, flushInterval: 60_000, idleFlushes: 5, maxCounters: 100_000, maxEvents: 100_000, eventTtl: 86_400_000 }),
  /** POST|PUT /api/v1/sink (Hosted Graphite's HTTP API). */
  sink: endpointGroup({}).default({ enabled: true }),
  /** POST /publish/<prefix> (Backstop). */
  publish: endpointGroup({ prefixes: z.array(z.string().min(1)).default([]) }).default({ enabled: true, prefixes: [] }),
  /** POST /collectd (collectd write_http, Format "JSON"). */
  collectd: endpointGroup({
    /** backstop: mitt.<cloud>.<slot>.<id>.<metric>; graphite: write_graphite's scheme. */
    naming: z.enum(['backstop', 'graphite']).default('graphite'),
    // The options below are write_graphite's (Prefix, Postfix, EscapeCharacter, ...); naming: graphite only.
    /** Inserted verbatim before the host (dots kept); a control character would make every name invalid. */
    prefix: z.string().regex(/^[^\x00-\x1f\x7f]*$/, 'must not contain control characters').default(''),
    /** Inserted verbatim after the host. */
    postfix: z.string().regex(/^[^\x00-\x1f\x7f]*$/, 'must not contain control characters').default(''),
    /** Replaces dots (unless preserveSeparator), whitespace and " \ : ! , / ( ) in names; collectd refuses a forbidden one too. */
    escapeCharacter: z
      .string()
      .length(1)
      .refine((c) => !/[\s\x00-\x1f\x7f"\\:!,/()]/.test(c), 'must not be whitespace, a control character or one of " \\ : ! , / ( )')
      .default('_'),
    /** plugin.instance and type.instance instead of plugin-instance and type-instance. */
    separateInstances: z.boolean().default(false),
    /** Append the data-source name even for single-value types (`.value`). */
    alwaysAppendDs: z.boolean().default(false),
    /** Keep dots inside host, plugin, type and instances (more path levels) instead of escaping them. */
    preserveSeparator: z.boolean().default(false),
    /** host.load.load.shortterm -> host.load.shortterm (plugin == type). */
    dropDuplicateFields: z.boolean().default(false),
    /** a.b.c -> c.b.a before escaping, so hosts group by domain. */
    reverseHost: z.boolean().default(false),
  }).default({
    enabled: true,
    naming: 'graphite',
    prefix: '',
    postfix: '',
    escapeCharacter: '_',
    separateInstances: false,
    alwaysAppendDs: false,
    preserveSeparator: false,
    dropDuplicateFields: false,
    reverseHost: false,
  }),
  /** POST /github push webhooks; with a secret, X-Hub-Signature-256 is required. */
  github: endpointGroup({ secret: z.string().min(1).optional() }).default({ enabled: true }),
  /** POST /pagerduty; with a secret, X-PagerDuty-Signature is required. */
  pagerduty: endpointGroup({ secret: z.string().min(1).optional() }).default({ enabled: true }),
  /** POST /metrics, Grafana Cloud's Graphite JSON. */
  grafana: endpointGroup({}).default({ enabled: true }),
});

export const ruleSchema = z
  .strictObject({
    name: z.string().min(1).optional(),
    /** A regex searched anywhere in the name (unanchored), as carbon's relay-rules do. */
    pattern: z.string().min(1).optional(),
    /** carbon compiles rules with re.I; set false for case-sensitive matching. */
    ignoreCase: z.boolean().default(true),
    default: z.boolean().optional(),
    /** Destination names; an empty list drops the datapoints (counted as blackholed). */
    destinations: z.array(z.string().min(1)),
    continue: z.boolean().default(false),
  })
  .superRefine((r, ctx) => {
    if (r.default === true && r.pattern !== undefined) ctx.addIssue({ code: 'custom', message: 'the default rule cannot have a pattern' });
    if (r.default !== true && r.pattern === undefined) ctx.addIssue({ code: 'custom', message: 'needs a pattern (or default: true)' });
  });

/** One rewrite rule: `match` (searched anywhere in the name) has its first match replaced by `replace`. */
export const rewriteSchema = z.strictObject({
  /** A Python `re` pattern, as rules use; case-sensitive unless ignoreCase (as carbon-c-relay's rewrites). */
  match: z.string().min(1),
  /** `\1`, `\_1` (lower-case), `\^1` (upper-case), `\.1` (dots to underscores), `\g<name>`; may be empty. */
  replace: z.string(),
  ignoreCase: z.boolean().default(false),
  /** When this rule matches, later rewrite rules are skipped. */
  stop: z.boolean().default(false),
});

export const rulesFileSchema = z.strictObject({
  destinations: z.array(destinationSchema).default([]),
  groups: z.array(groupSchema).default([]),
  rules: z.array(ruleSchema).min(1),
});

/** Catchpoint's public API base (the Python integration's `https://` + `io.catchpoint.com/ui/api` without `api`). */
export const CATCHPOINT_DEFAULT_BASE_URL = 'https://io.catchpoint.com/ui/';

/** A Catchpoint test id: a number, or a string of digits as the Python integration's YAML writes them. */
const TEST_ID = 'expected a test id (a positive integer)';
const catchpointTestId = z.union(
  [z.number().int(TEST_ID).positive(TEST_ID), z.string().regex(/^\s*\d+\s*$/).transform((s) => Number(s.trim()))],
  { error: TEST_ID },
);

/** A pull source polling Catchpoint's REST API for raw synthetic-test data. */
export const catchpointSourceSchema = z
  .strictObject({
    /** Names the source in self-metrics (`sources.<name>.polls`), logs and `poll-once --source`. */
    name: z.string().regex(/^[A-Za-z0-9_-]+$/, 'use letters, digits, _ and -'),
    type: z.literal('catchpoint'),
    /** Token at `{baseUrl}api/token`, data at `{baseUrl}api/v1/performance/raw`. */
    baseUrl: z
      .string()
      .regex(/^https?:\/\/[^\s/]+(\/\S*)?$/, 'expected an http(s) URL')
      .transform((u) => (u.endsWith('/') ? u : `${u}/`))
      .default(CATCHPOINT_DEFAULT_BASE_URL),
    /** The REST API consumer's key and secret; use ${ENV}. Never logged. */
    clientId: z.string().min(1),
    clientSecret: z.string().min(1),
    interval: duration.pipe(z.number().min(1000, 'must be at least 1s')).default(900_000),
    /** One HTTP call (token or data), body included; a call that takes longer is abandoned and retried. */
    timeout: duration.pipe(z.number().min(1, 'must be above 0')).default(30_000),
    /** Each window ends this long before the poll, for results that reach Catchpoint late. */
    lag: duration.default(0),
    /** After failures a window catches up at most this far back (older data is skipped with a warning). */
    maxWindow: duration.pipe(z.number().min(1000, 'must be at least 1s')).default(86_400_000),
    /** Test ids per data call (Catchpoint accepts at most 20). */
    batchSize: z.number().int().min(1).max(20).default(20),
    /** Retries of one call within a poll on 5xx, timeouts and network errors; then it waits for the next poll. */
    retry: z
      .strictObject({
        attempts: z.number().int().min(1).default(3),
        initialDelay: duration.default(1000),
        maxDelay: duration.default(30_000),
      })
      .default({ attempts: 3, initialDelay: 1000, maxDelay: 30_000 }),
    /** Test ids by test type (web, transaction, api, ping, traceroute, dns, websocket, smtp, ...), as the integration's test_ids. */
    tests: z.record(
      z.string().regex(/^[a-z][a-z0-9_]*$/),
      z
        .array(catchpointTestId)
        .nullable()
        .transform((ids) => ids ?? []),
      { error: (issue) => (issue.code === 'invalid_key' ? 'test types are lower-case words (web, transaction, api, ...)' : undefined) },
    ),
    /** Metric name prefix. */
    prefix: z
      .string()
      .regex(/^[^\s;.][^\s;]*$/, 'no whitespace, ";" or leading "."')
      .refine((p) => !p.endsWith('.'), 'no trailing "."')
      .default('catchpoint.testdata'),
    /** true: `name;testId=..;nodeId=..[;stepNumber=..|;hopNumber=..]`; false: `name.<testId>.<nodeId>[.step<n>|.hop<n>]`. */
    tags: z.boolean().default(true),
  })
  .superRefine((s, ctx) => {
    const seen = new Map<number, string>();
    let count = 0;
    for (const [type, ids] of Object.entries(s.tests)) {
      ids.forEach((id, i) => {
        const first = seen.get(id);
        if (first !== undefined) ctx.addIssue({ code: 'custom', path: ['tests', type, i], message: `test ${id} is already listed (${first})` });
        else seen.set(id, `tests.${type}.${i}`);
        count++;
      });
    }
    if (count === 0) ctx.addIssue({ code: 'custom', path: ['tests'], message: 'list at least one test id' });
    if (s.retry.maxDelay < s.retry.initialDelay) ctx.addIssue({ code: 'custom', path: ['retry', 'maxDelay'], message: 'must not be below initialDelay' });
    if (s.maxWindow < s.interval) ctx.addIssue({ code: 'custom', path: ['maxWindow'], message: 'must not be below interval' });
  });

/**
 * A Kafka consumer group reading Graphite lines or pickle payloads (what a
 * Kafka destination or go-carbon's producers write), fed to the rules like a
 * receiver. Offsets are committed once a message's datapoints are queued (or
 * spooled) for every destination.
 */
export const kafkaSourceSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_-]+$/, 'use letters, digits, _ and -'),
  type: z.literal('kafka'),
  brokers: kafkaBrokers,
  topics: z.array(kafkaTopic).min(1),
  /** The consumer group: relays with the same group share the partitions; each message is read by one of them. */
  groupId: z.string().min(1),
  /** `line`: newline-separated plaintext lines; `pickle`: one carbon pickle payload per message (no length header). */
  format: z.enum(['line', 'pickle']).default('line'),
  /** Where a group with no committed offset starts: `earliest` reads what the topic still holds (nothing lost), `latest` only what comes next. */
  startFrom: z.enum(['earliest', 'latest']).default('earliest'),
  /** Messages over this are skipped whole and counted. */
  maxMessageBytes: z.number().int().min(1024).default(1_048_576),
  maxLineLength: z.number().int().min(64).default(16_384),
  /** A lines message's line without a timestamp means "now" (Hosted Graphite's format). */
  timestampOptional: z.boolean().default(false),
  sessionTimeout: duration.pipe(z.number().min(1000, 'must be at least 1s')).default(30_000),
  connectTimeout: duration.default(10_000),
  clientId: z.string().min(1).default('carbon-fanout'),
  tls: kafkaTls,
  sasl: kafkaSasl,
  /** Other librdkafka consumer properties; never the ones the relay sets for at-least-once delivery. */
  librdkafka: kafkaProperties(['bootstrap.servers', 'group.id', 'enable.auto.commit', 'enable.auto.offset.store', 'auto.offset.reset']),
});

/** carbon-aggregator's aggregation of received datapoints (README, "Aggregation"). */
export const aggregationSchema = z.strictObject({
  /** carbon's aggregation-rules.conf, read unchanged; relative to this file. */
  rules: z.string().min(1),
  /** carbon's FORWARD_ALL: datapoints a rule matches are routed raw too. Datapoints no rule matches are always routed. */
  keepRaw: z.boolean().default(true),
  /** Where aggregates go: `rules` (the rules, without the filters, as carbon-aggregator relays them) or destination/group names. */
  output: z.union([z.literal('rules'), z.array(z.string().min(1)).min(1)], { error: 'expected `rules` or a list of destination or group names' }).default('rules'),
  /** carbon's MAX_AGGREGATION_INTERVALS: intervals behind the current one still re-emitted on late data (and accepted ahead of it). */
  maxIntervals: z.number().int().min(0).default(5),
  /** carbon's WRITE_BACK_FREQUENCY: compute at least this often (whole seconds) when a rule's frequency is longer. */
  writeBackFrequency: duration.pipe(z.number().min(1000, 'must be at least 1s').refine((ms) => ms % 1000 === 0, 'must be whole seconds')).optional(),
  /** Open aggregates (output names) at most; datapoints for further ones are dropped and counted (aggregateCapHits). */
  maxAggregates: z.number().int().positive().default(100_000),
  /** Values held for percentile methods at most, over all aggregates; further ones are dropped and counted (valueCapHits). */
  maxValues: z.number().int().positive().default(1_000_000),
});

/** A pull source: fetches datapoints on a schedule (or consumes them) and feeds them to the rules like a receiver. `type` picks the kind. */
export const sourceSchema = z.discriminatedUnion('type', [catchpointSourceSchema, kafkaSourceSchema]);

export const configSchema = z.strictObject({
  logLevel: z.enum(['error', 'warn', 'info', 'debug']).default('info'),
  /** `start` also writes its log here, as JSON lines, rotated by size (relative to this file). Changing it needs a restart. */
  logFile: z
    .strictObject({
      path: z.string().min(1),
      /** A line that would take the file past this size starts a new one: the old moves to PATH.1 (PATH.1 to PATH.2, ...), as logrotate names them. */
      maxSize: byteSize.pipe(z.number().min(4096, 'must be at least 4KiB')).default(100 * 1024 ** 2),
      /** Files kept, the current one included; the oldest is deleted. */
      maxFiles: z.number().int().min(1).default(5),
      /** false: log to the file only, nothing on stderr. */
      stderr: z.boolean().default(true),
    })
    .optional(),
  /** How long SIGTERM/SIGINT waits for queued datapoints to be delivered. */
  shutdownTimeout: duration.default(10_000),
  /** On SIGTERM/SIGINT, /ready turns false this long before receivers stop, so a load balancer stops sending first. */
  shutdownGrace: duration.default(0),
  /**
   * Processes running the whole pipeline, sharing the receivers' ports (`auto`: one per core). With more than one,
   * `carbon-fanout start` runs a primary that owns the admin listener and supervises the workers.
   */
  workers: z.union([z.number().int().min(1).max(64), z.literal('auto')]).default('auto'),
  /**
   * The operator's listener: /health, /ready, /status, /metrics. Never behind the
   * ingest endpoints' auth, limits or pressure checks. `false` turns it off.
   */
  admin: z
    .union([
      z.literal(false),
      z.strictObject({
        host: z.string().min(1).default('127.0.0.1'),
        port: port.default(8081),
        /** Basic users; none: no credentials asked (keep it on loopback then). */
        users: z.array(z.strictObject({ user: z.string().min(1), password: z.string().min(1) })).default([]),
      }),
    ])
    .default({ host: '127.0.0.1', port: 8081, users: [] }),
  /** Names whose routing decision is memoised. */
  routeCacheSize: z.number().int().positive().default(100_000),
  /** The relay's own counters, emitted through the rules like any metric (carbon's CARBON_METRIC_*). */
  selfMetrics: z
    .strictObject({
      /** 0 disables. */
      interval: duration.default(60_000),
      /** Default: carbon.relays.<hostname with . as _>-a */
      prefix: z.string().min(1).optional(),
    })
    .default({ interval: 60_000 }),
  listen: z
    .strictObject({
      /** Per TCP/TLS listener; further connections are refused (each may buffer up to one line or frame). */
      maxConnections: z.number().int().positive().default(1024),
      /** Per client address, per TCP/TLS listener; further connections from it are refused (0 = no limit). */
      maxConnectionsPerClient: z.number().int().min(0).default(64),
      /** A TCP/TLS connection without a complete line or frame this long is closed (0 = never); a paused one never is. */
      idleTimeout: duration.default(180_000),
      /**
       * TCP/TLS listeners behind an L4 load balancer (HAProxy `send-proxy`/`send-proxy-v2`): every connection must
       * start with a PROXY protocol v1 or v2 header (before the TLS handshake), and the client it names is the peer
       * for logs and maxConnectionsPerClient. Connections without a valid one are closed and counted.
       */
      proxyProtocol: z.boolean().default(false),
      /**
       * A TCP/TLS connection older than this (plus up to 10% jitter) is half-closed: the relay sends FIN and reads on
       * until the client closes, so clients reconnect and rebalance without a line or frame being cut (0 = never).
       */
      maxConnectionAge: duration.default(0),
      /**
       * Longest metric name accepted on every path (line, pickle, UDP, HTTP, sources), in UTF-8 bytes as
       * received; longer ones are dropped and counted (nameTooLong). At most 16,000 so that a line
       * (name, value, timestamp) always fits carbon's 16,384-byte line limit. Carbon itself has no such limit.
       */
      maxNameLength: z.number().int().min(1).max(16_000).default(4096),
      line: z
        .strictObject({
          tcp: lineTcpListen.optional(),
          udp: lineListenAddress.optional(),
          tls: lineTlsListen.optional(),
          maxLineLength: z.number().int().positive().default(16_384),
          /** Name checks for line TCP, TLS and UDP: none, carbon (default) or strict (listen.strict). */
          validation: nameValidation,
        })
        .optional(),
      pickle: z
        .strictObject({
          tcp: tcpListen.optional(),
          /** Pickle over TLS (Hosted Graphite's port 20040). */
          tls: tlsListen.optional(),
          maxFrameLength: z.number().int().positive().default(1_048_576),
          validation: nameValidation,
        })
        .optional(),
      /** What `validation: strict` allows, for every listener that uses it. */
      strict: z
        .strictObject({
          /** Like a regex bracket expression's inside: characters and ranges, printable ASCII; `-` first or last is literal. */
          allowedCharacters: z
            .string()
            .superRefine((spec, ctx) => {
              const table = parseCharacterSet(spec);
              if (typeof table === 'string') ctx.addIssue({ code: 'custom', message: table });
            })
            .default(DEFAULT_STRICT_CHARACTERS),
          /** Longest name a strict listener accepts (characters; strict names are ASCII, so bytes too). maxNameLength still applies. */
          maxLength: z.number().int().min(1).default(DEFAULT_STRICT_MAX_LENGTH),
        })
        .default({ allowedCharacters: DEFAULT_STRICT_CHARACTERS, maxLength: DEFAULT_STRICT_MAX_LENGTH }),
      /** The HTTP front door (endpoints configured under `http:`); with cert and key it serves HTTPS. */
      http: z
        .strictObject({
          host: z.string().min(1).default('0.0.0.0'),
          port,
          cert: z.string().min(1).optional(),
          key: z.string().min(1).optional(),
        })
        .refine((h) => (h.cert === undefined) === (h.key === undefined), { message: 'set both cert and key for HTTPS, or neither' })
        .optional(),
    })
    .default({
      maxConnections: 1024,
      maxConnectionsPerClient: 64,
      idleTimeout: 180_000,
      proxyProtocol: false,
      maxConnectionAge: 0,
      maxNameLength: 4096,
      strict: { allowedCharacters: DEFAULT_STRICT_CHARACTERS, maxLength: DEFAULT_STRICT_MAX_LENGTH },
    }),
  http: httpSchema.optional(),
  destinations: z.array(destinationSchema).default([]),
  rules: z.array(ruleSchema).optional(),
  /** Rewrite rules (carbon-c-relay's `rewrite ... into ...`), applied in order to every received name before the rules route it. */
  rewrite: z.array(rewriteSchema).default([]),
  /** A YAML file with `rules:` (and optionally more `destinations:`), relative to this file. */
  rulesFile: z.string().min(1).optional(),
  groups: z.array(groupSchema).default([]),
  /** Pull sources (type: catchpoint): polled on a schedule, their datapoints routed like received ones. */
  sources: z.array(sourceSchema).default([]),
  /** carbon's USE_WHITELIST: regexes searched in received names (case-sensitive); files in carbon's format are re-read on change. */
  filters: z
    .strictObject({
      allow: z.array(z.string().min(1)).default([]),
      block: z.array(z.string().min(1)).default([]),
      allowFile: z.string().min(1).optional(),
      blockFile: z.string().min(1).optional(),
    })
    .optional(),
  /** carbon's TAG_RELAY_NORMALIZED: route and send tagged names in graphite's canonical form. */
  normalizeTags: z.boolean().default(false),
  /** carbon's MIN_TIMESTAMP_RESOLUTION: floor received timestamps to a multiple of this many seconds (0 = off). */
  minTimestampResolution: z.number().int().min(0).default(0),
  /** Aggregation as carbon-aggregator does it, over received datapoints before routing. */
  aggregation: aggregationSchema.optional(),
  /** Where the relay keeps state across restarts (destination spools), relative to this file. Setting it turns the spool on (overflow) for network destinations. */
  dataDir: z.string().min(1).optional(),
});

export type ConfigInput = z.infer<typeof configSchema>;
export type RuleConfig = z.infer<typeof ruleSchema>;
export type RewriteConfig = z.infer<typeof rewriteSchema>;
export type GroupConfig = z.infer<typeof groupSchema>;
export type HashType = (typeof hashTypes)[number];
export type HealthGroupType = (typeof healthGroupTypes)[number];
export type HashGroupConfig = GroupConfig & { type: HashType };
export type HealthGroupConfig = GroupConfig & { type: HealthGroupType };

export function isHashGroup(g: GroupConfig): g is HashGroupConfig {
  return (hashTypes as readonly string[]).includes(g.type);
}
export type HttpConfig = z.infer<typeof httpSchema>;
export type TlsListenConfig = z.infer<typeof tlsListen>;
export type HttpAuthConfig = z.infer<typeof httpAuthSchema>;
export type ConfigObject = z.input<typeof configSchema>;
export type SourceConfig = z.infer<typeof sourceSchema>;
export type AggregationInput = z.infer<typeof aggregationSchema>;
export type CatchpointSourceConfig = z.infer<typeof catchpointSourceSchema>;
export type KafkaSourceConfig = z.infer<typeof kafkaSourceSchema>;
