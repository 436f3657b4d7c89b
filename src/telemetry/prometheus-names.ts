import { HttpResponseCounts, type CounterTable, type DestinationCounters, type IngestCounters } from './counters';

/**
 * How our counters are named for Prometheus. Graphite names are paths whose
 * last segment says what is counted (`destinations.<d>.fullQueueDrops`);
 * Prometheus wants one family per meaning, with the component and the reason
 * as labels, counters ending in `_total` and values in base units. The mapping
 * is written out key by key (not derived from the field names) so a renamed
 * field cannot silently rename a series dashboards depend on.
 *
 * Labels come only from bounded sets: configured component names and the
 * fixed reasons/kinds below. A datapoint's metric name is never a label value.
 */

export const PROMETHEUS_PREFIX = 'carbon_fanout_';

/** The only label names our own families use (the scope label is added by the exporter). */
export type LabelName = 'listener' | 'protocol' | 'endpoint_group' | 'status' | 'destination' | 'group' | 'source' | 'reason' | 'kind' | 'version' | 'hash';

export interface Family {
  readonly type: 'counter' | 'gauge';
  readonly help: string;
  readonly labels: readonly LabelName[];
  /**
   * How a primary combines the workers' series (`workers: N`); default: their sum. A state every worker
   * reports alike (build info, a group's size) takes the max; "up" holds only while every worker is.
   */
  readonly acrossWorkers?: 'max' | 'min';
}

const counter = (help: string, ...labels: LabelName[]): Family => ({ type: 'counter', help, labels });
const gauge = (help: string, ...labels: LabelName[]): Family => ({ type: 'gauge', help, labels });
const across = (f: Family, acrossWorkers: 'max' | 'min'): Family => ({ ...f, acrossWorkers });

/** Every family we export, without the prefix. */
export const FAMILIES = {
  build_info: across(gauge('Always 1; the version label is the relay package version.', 'version'), 'max'),
  config_info: across(gauge('Always 1; the hash label is the loaded configuration hash (as printed by carbon-fanout check).', 'hash'), 'max'),

  datapoints_received_total: counter('Datapoints accepted from receivers (carbon metricsReceived), by listener (sources: the pull sources) and protocol.', 'listener', 'protocol'),
  invalid_input_total: counter('Input rejected before routing, by listener, protocol and reason.', 'listener', 'protocol', 'reason'),
  blackholed_total: counter('Datapoints matched by a rule with no destinations.'),
  rewritten_total: counter('Datapoints whose name a rewrite rule changed, by listener and protocol.', 'listener', 'protocol'),
  config_reloads_total: across(counter('Configuration reloads (SIGHUP), by result: applied, failed (invalid config: nothing changed), restart_required (a change reload cannot apply).', 'reason'), 'max'),
  filtered_total: counter('Datapoints dropped by the block list or not in a non-empty allow list.', 'reason'),
  timestamps_assigned_total: counter('Plaintext datapoints received without a timestamp and given the relay clock (timestampOptional), by listener.', 'listener', 'protocol'),
  invalid_tags_total: counter('Tagged names whose tags did not parse with normalizeTags on (routed as received).'),
  active_connections: gauge('Current TCP receiver connections, by listener.', 'listener', 'protocol'),
  connections_refused_total: counter('TCP/TLS receiver connections refused, by listener and reason: max_connections (listener full), per_client_limit (maxConnectionsPerClient).', 'listener', 'protocol', 'reason'),
  idle_timeouts_total: counter('TCP/TLS receiver connections closed after idleTimeout without a complete line or frame, by listener.', 'listener', 'protocol'),
  tls_handshake_failures_total: counter('TLS receiver connections whose handshake failed (not TLS, no common protocol or cipher, a client certificate missing or not signed by the client CA), by listener; timeouts count in idle_timeouts_total.', 'listener', 'protocol'),
  connections_aged_total: counter('TCP/TLS receiver connections half-closed at maxConnectionAge (the client closes and reconnects), by listener.', 'listener', 'protocol'),
  http_requests_total: counter('HTTP front door requests answered, by endpoint group (health; none: no group took it, e.g. 404 or rate-limited before routing) and status code.', 'endpoint_group', 'status'),
  http_refused_requests_total: counter('HTTP front door requests refused whole, by reason (a subset of http_requests_total).', 'reason'),
  http_invalid_datapoints_total: counter('Datapoints named in an HTTP 400 answer (bad name, value or timestamp).'),
  http_skipped_items_total: counter('collectd null values and notifications skipped.'),
  http_impulse_overflows_total: counter('/imp counter sums that overflowed to infinity in a flush interval; that datapoint was dropped.'),

  destination_routed_total: counter('Datapoints routed to the destination, including dropped ones (carbon attemptedRelays).', 'destination'),
  destination_sent_total: counter('Datapoints written to the destination connection and handed to the operating system.', 'destination'),
  destination_batches_sent_total: counter('Pickle frames or line write batches written.', 'destination'),
  destination_dropped_total: counter('Datapoints the destination dropped, by reason.', 'destination', 'reason'),
  destination_queued_while_down_total: counter('Datapoints routed while the destination had no connection.', 'destination'),
  destination_connects_total: counter('Connections established.', 'destination'),
  destination_connect_failures_total: counter('Failed connection attempts (refused, timeout, TLS verification).', 'destination'),
  destination_handed_over_total: counter('Datapoints moved to another failover/any_of member while this one was down.', 'destination'),
  destination_closed_by_peer_total: counter('Connections the peer closed after data was written (carbon rejects input by hanging up).', 'destination'),
  destination_stalls_total: counter('Times the destination stopped holding receivers after holding them stallTimeout in all.', 'destination'),
  destination_rate_limit_waits_total: counter('maxRate: times the writer stopped until it may send more.', 'destination'),
  destination_rate_limited_seconds_total: counter('maxRate: seconds the writer spent stopped (datapoints waited in the queue or spool meanwhile).', 'destination'),
  destination_kafka_messages_total: counter('Kafka destinations: records acknowledged by the brokers.', 'destination'),
  destination_kafka_delivery_errors_total: counter('Kafka destinations: records refused for good, by librdkafka error kind.', 'destination', 'kind'),
  destination_queue_length: gauge('Datapoints in the memory queue.', 'destination'),
  destination_queue_capacity: gauge('The memory queue bound (maxQueueSize).', 'destination'),
  destination_up: across(gauge('1 while the destination is connected and not stalled, else 0.', 'destination'), 'min'),

  spool_bytes: gauge('Bytes of spool segments on disk.', 'destination'),
  spool_segments: gauge('Spool segment files on disk.', 'destination'),
  spool_pending_datapoints: gauge('Spooled datapoints not yet acknowledged as delivered.', 'destination'),
  spool_oldest_age_seconds: across(gauge('Age of the oldest unacknowledged spool segment (0 when empty).', 'destination'), 'max'),
  spool_written_total: counter('Datapoints appended to the spool.', 'destination'),
  spool_replayed_total: counter('Datapoints read back from the spool (again after a rewind).', 'destination'),
  spool_acked_total: counter('Spooled datapoints acknowledged as delivered.', 'destination'),
  spool_blocked_total: counter('Datapoints refused by a full spool with whenFull block (held and retried, not lost).', 'destination'),
  spool_dropped_total: counter('Datapoints the spool lost, by reason.', 'destination', 'reason'),
  spool_corrupt_records_total: counter('Damaged spool records skipped.', 'destination'),
  spool_corrupt_datapoints_total: counter('Datapoints lost inside damaged spool records.', 'destination'),
  spool_bad_segments_total: counter('Spool segments with an unreadable header, renamed .bad.', 'destination'),

  group_member_changes_total: counter('Times the set of healthy members changed.', 'group'),
  group_moved_total: counter('Datapoints moved from a down member to a healthy one.', 'group'),
  group_members: across(gauge('Configured members.', 'group'), 'max'),
  group_healthy_members: across(gauge('Members currently healthy.', 'group'), 'min'),

  source_polls_total: counter('Polls run.', 'source'),
  source_polls_failed_total: counter('Polls in which a data call failed after its retries.', 'source'),
  source_api_calls_total: counter('HTTP requests made to the API (retries included).', 'source'),
  source_api_errors_total: counter('Failed API calls by kind (every attempt).', 'source', 'kind'),
  source_token_refreshes_total: counter('Access tokens fetched.', 'source'),
  source_datapoints_total: counter('Datapoints handed to the pipeline.', 'source'),
  source_invalid_items_total: counter('Items skipped whole (unusable timestamp, ids, step or values).', 'source'),
  source_invalid_values_total: counter('Single values skipped (not a number, or an unusable field name).', 'source'),
  source_null_values_total: counter('Null values skipped (not an error).', 'source'),
  source_outside_window_total: counter('Items outside the requested window, skipped.', 'source'),
  source_capped_windows_total: counter('Calls whose window was cut to maxWindow.', 'source'),
  source_state_write_errors_total: counter('Failed saves of the position file.', 'source'),
  source_messages_total: counter('Kafka sources: messages read.', 'source'),
  source_invalid_messages_total: counter('Kafka sources: messages skipped whole (over maxMessageBytes, or a pickle that does not decode).', 'source'),
  source_invalid_lines_total: counter('Kafka sources: lines (or pickle items) skipped inside messages.', 'source'),
  source_commits_total: counter('Kafka sources: offset commits sent.', 'source'),
  source_commit_errors_total: counter('Kafka sources: offset commits that failed (those messages may be read again).', 'source'),
  source_rebalances_total: counter('Kafka sources: partition assignments received.', 'source'),
  source_pauses_total: counter('Kafka sources: times consumption paused because destinations were pressured.', 'source'),
  source_last_success_timestamp_seconds: across(gauge('Unix time the last fully successful poll finished (0: none yet).', 'source'), 'max'),

  aggregation_datapoints_total: counter('Datapoints added to aggregates (a datapoint feeding two aggregates counts twice).'),
  aggregation_emitted_total: counter('Aggregate values emitted, re-emissions of an interval that received late values included (carbon aggregateDatapointsSent).'),
  aggregation_dropped_total: counter('Datapoints the aggregator refused, by reason: max_aggregates (a new aggregate over the cap), max_values (percentile values over the cap), late (interval older than maxIntervals), future (interval more than maxIntervals ahead).', 'reason'),
  aggregation_raw_consumed_total: counter('Received datapoints not routed raw because they were aggregated (keepRaw false, or named like their own aggregate).'),
  aggregation_open_aggregates: gauge('Aggregates open now (carbon allocatedBuffers).'),
  aggregation_held_values: gauge('Values held for percentile methods now.'),
} as const satisfies Record<string, Family>;

export type FamilyName = keyof typeof FAMILIES;

/** Histograms, read from DurationHistograms at scrape time (not through the counter visitors). */
export const HISTOGRAMS = {
  destination_flush_duration_seconds: {
    help: 'Seconds from writing a chunk (up to 64 KiB of frames or lines) to the destination connection until it left the process; long when the peer does not read.',
    labels: ['destination'] as const,
  },
} as const;

/** Where one reported key goes: a family, plus its reason/kind label when the family has one. */
export interface Target {
  readonly family: FamilyName;
  readonly reason?: string;
  readonly kind?: string;
  readonly endpointGroup?: string;
  readonly status?: string;
}

const to = (family: FamilyName, reason?: string): Target => (reason === undefined ? { family } : { family, reason });

/** Relay-wide keys (reporter path ''); the compiler checks every IngestCounters field is listed. */
export const INGEST_TARGETS = {
  metricsReceived: to('datapoints_received_total'),
  invalidLines: to('invalid_input_total', 'invalid_line'),
  lineTooLong: to('invalid_input_total', 'line_too_long'),
  incompleteLines: to('invalid_input_total', 'incomplete_line'),
  invalidTimestamps: to('invalid_input_total', 'invalid_timestamp'),
  nanValues: to('invalid_input_total', 'nan_value'),
  timestampsAssigned: to('timestamps_assigned_total'),
  invalidPickles: to('invalid_input_total', 'invalid_pickle'),
  pickleTooLong: to('invalid_input_total', 'pickle_too_long'),
  pickleTooDeep: to('invalid_input_total', 'pickle_too_deep'),
  invalidPickleItems: to('invalid_input_total', 'invalid_pickle_item'),
  invalidNames: to('invalid_input_total', 'invalid_name'),
  nameTooLong: to('invalid_input_total', 'name_too_long'),
  invalidNameEmptyComponent: to('invalid_input_total', 'empty_path_component'),
  invalidNameCharacter: to('invalid_input_total', 'disallowed_character'),
  invalidNameStrictLength: to('invalid_input_total', 'over_strict_length'),
  rewritten: to('rewritten_total'),
  invalidRewrites: to('invalid_input_total', 'invalid_rewrite'),
  proxyProtocolErrors: to('invalid_input_total', 'proxy_protocol'),
  tlsHandshakeFailures: to('tls_handshake_failures_total'),
  blackholed: to('blackholed_total'),
  blacklistMatches: to('filtered_total', 'blacklist'),
  whitelistRejects: to('filtered_total', 'not_whitelisted'),
  invalidTags: to('invalid_tags_total'),
  activeConnections: to('active_connections'),
  connectionsRefused: to('connections_refused_total', 'max_connections'),
  connectionsRefusedPerClient: to('connections_refused_total', 'per_client_limit'),
  idleTimeouts: to('idle_timeouts_total'),
  connectionsAged: to('connections_aged_total'),
  // the sum of http_requests_total's series, which say more
  httpRequests: null,
  httpInvalidItems: to('http_invalid_datapoints_total'),
  httpUnauthorized: to('http_refused_requests_total', 'unauthorized'),
  httpRateLimited: to('http_refused_requests_total', 'rate_limited'),
  httpOverloaded: to('http_refused_requests_total', 'overloaded'),
  httpBadRequests: to('http_refused_requests_total', 'bad_request'),
  httpSkippedItems: to('http_skipped_items_total'),
  httpImpulseOverflows: to('http_impulse_overflows_total'),
  reloadsApplied: to('config_reloads_total', 'applied'),
  reloadsFailed: to('config_reloads_total', 'failed'),
  reloadsRestartRequired: to('config_reloads_total', 'restart_required'),
} as const satisfies Record<keyof CounterTable<IngestCounters>, Target | null>;

/**
 * Destination keys, spool keys included (`spool.` prefix, reported by a
 * spooled queue). null: deliberately not exported. relayMaxQueueLength is a
 * peak that self-metrics resets each interval, so its value depends on another
 * reader; Prometheus gets the same from max_over_time(destination_queue_length).
 */
const DESTINATION_COUNTER_TARGETS = {
  attemptedRelays: to('destination_routed_total'),
  sent: to('destination_sent_total'),
  batchesSent: to('destination_batches_sent_total'),
  fullQueueDrops: to('destination_dropped_total', 'queue_full'),
  undeliveredAtShutdown: to('destination_dropped_total', 'shutdown'),
  queuedUntilConnected: to('destination_queued_while_down_total'),
  relayMaxQueueLength: null,
  connectFailures: to('destination_connect_failures_total'),
  connects: to('destination_connects_total'),
  handedOver: to('destination_handed_over_total'),
  oversizedDrops: to('destination_dropped_total', 'oversized'),
  lostInFlight: to('destination_dropped_total', 'lost_in_flight'),
  closedByPeer: to('destination_closed_by_peer_total'),
  stalls: to('destination_stalls_total'),
  rejected: to('destination_dropped_total', 'rejected'),
  rateLimitWaits: to('destination_rate_limit_waits_total'),
  rateLimitedSeconds: to('destination_rate_limited_seconds_total'),
} as const satisfies Record<keyof CounterTable<DestinationCounters>, Target | null>;

export const DESTINATION_TARGETS: Readonly<Record<string, Target | null>> = {
  ...DESTINATION_COUNTER_TARGETS,
  queueLength: to('destination_queue_length'),
  // destination_flush_duration_seconds (a histogram) has these and its buckets
  flushes: null,
  flushSeconds: null,
  'spool.written': to('spool_written_total'),
  'spool.replayed': to('spool_replayed_total'),
  'spool.acked': to('spool_acked_total'),
  'spool.blocked': to('spool_blocked_total'),
  'spool.droppedFull': to('spool_dropped_total', 'full'),
  'spool.droppedAge': to('spool_dropped_total', 'max_age'),
  'spool.droppedReserve': to('spool_dropped_total', 'disk_reserve'),
  'spool.droppedInvalid': to('spool_dropped_total', 'name_too_long'),
  'spool.lostBlocked': to('spool_dropped_total', 'blocked_at_shutdown'),
  'spool.lostClosed': to('spool_dropped_total', 'spool_closed'),
  'spool.corruptRecords': to('spool_corrupt_records_total'),
  'spool.corruptDatapoints': to('spool_corrupt_datapoints_total'),
  'spool.badSegments': to('spool_bad_segments_total'),
  'spool.bytes': to('spool_bytes'),
  'spool.segments': to('spool_segments'),
  'spool.pending': to('spool_pending_datapoints'),
  'spool.oldestAgeSeconds': to('spool_oldest_age_seconds'),
  'kafka.messages': to('destination_kafka_messages_total'),
};

const KAFKA_DELIVERY_ERRORS = 'kafka.deliveryErrors.';

/** Failover / any_of group keys. */
export const GROUP_TARGETS: Readonly<Record<string, Target | null>> = {
  memberChanges: to('group_member_changes_total'),
  moved: to('group_moved_total'),
  healthyMembers: to('group_healthy_members'),
};

/** Pull source keys; `apiErrors.<kind>` is matched by prefix (the kinds are a fixed list in the source). */
export const SOURCE_TARGETS: Readonly<Record<string, Target | null>> = {
  polls: to('source_polls_total'),
  pollsFailed: to('source_polls_failed_total'),
  apiCalls: to('source_api_calls_total'),
  tokenRefreshes: to('source_token_refreshes_total'),
  datapoints: to('source_datapoints_total'),
  invalidItems: to('source_invalid_items_total'),
  invalidValues: to('source_invalid_values_total'),
  nullValues: to('source_null_values_total'),
  outsideWindow: to('source_outside_window_total'),
  cappedWindows: to('source_capped_windows_total'),
  stateWriteErrors: to('source_state_write_errors_total'),
  lastSuccessTime: to('source_last_success_timestamp_seconds'),
  messages: to('source_messages_total'),
  invalidMessages: to('source_invalid_messages_total'),
  invalidLines: to('source_invalid_lines_total'),
  commits: to('source_commits_total'),
  commitErrors: to('source_commit_errors_total'),
  rebalances: to('source_rebalances_total'),
  pauses: to('source_pauses_total'),
};

/** Aggregator keys (reporter path `aggregator`). */
export const AGGREGATION_TARGETS: Readonly<Record<string, Target | null>> = {
  datapointsAggregated: to('aggregation_datapoints_total'),
  aggregatesEmitted: to('aggregation_emitted_total'),
  aggregateCapHits: to('aggregation_dropped_total', 'max_aggregates'),
  valueCapHits: to('aggregation_dropped_total', 'max_values'),
  lateDatapoints: to('aggregation_dropped_total', 'late'),
  futureDatapoints: to('aggregation_dropped_total', 'future'),
  rawConsumed: to('aggregation_raw_consumed_total'),
  openAggregates: to('aggregation_open_aggregates'),
  heldValues: to('aggregation_held_values'),
};

const API_ERRORS = 'apiErrors.';

/** Own keys only: a reported key such as `constructor` must not find Object.prototype's. */
function lookup(table: Readonly<Record<string, Target | null>>, key: string): Target | null | undefined {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}

export type Scope = 'relay' | 'destination' | 'group' | 'source' | 'aggregator';

/** Where a reported key goes: a target, null when deliberately not exported, undefined when unknown. */
export function targetOf(scope: Scope, key: string): Target | null | undefined {
  switch (scope) {
    case 'relay':
      if (key.startsWith(HttpResponseCounts.PREFIX)) {
        const rest = key.slice(HttpResponseCounts.PREFIX.length);
        const dot = rest.lastIndexOf('.');
        return { family: 'http_requests_total', endpointGroup: rest.slice(0, dot), status: rest.slice(dot + 1) };
      }
      return lookup(INGEST_TARGETS, key);
    case 'destination':
      if (key.startsWith(KAFKA_DELIVERY_ERRORS)) return { family: 'destination_kafka_delivery_errors_total', kind: key.slice(KAFKA_DELIVERY_ERRORS.length) };
      return lookup(DESTINATION_TARGETS, key);
    case 'group':
      return lookup(GROUP_TARGETS, key);
    case 'source':
      if (key.startsWith(API_ERRORS)) return { family: 'source_api_errors_total', kind: key.slice(API_ERRORS.length) };
      return lookup(SOURCE_TARGETS, key);
    case 'aggregator':
      return lookup(AGGREGATION_TARGETS, key);
  }
}
