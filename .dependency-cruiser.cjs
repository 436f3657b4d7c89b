// @ts-check
/**
 * The layers of src/, checked by `npm test` (npm run lint:deps). Lowest first:
 *   common, model  <- telemetry, codec  <- config  <- routing, output  <- aggregation, pipeline  <- ingest, sources, admin  <- relay  <- cluster  <- cli
 * A rule below names each direction that must never happen; an import that
 * breaks one means the code belongs in another layer (see README, "Layout").
 */
const layer = (name) => `^src/${name}/`;
const forbid = (name, comment, from, to) => ({ name, comment, severity: 'error', from: { path: from }, to: { path: to } });

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    { name: 'no-cycles', comment: 'modules must not import each other in a circle', severity: 'error', from: {}, to: { circular: true } },
    forbid('nothing-imports-cli', 'cli.ts is the entry point: the only place that parses argv or exits', '^src/', '^src/cli\\.ts$'),
    forbid('src-not-test', 'production code never imports tests or benchmarks', '^src/', '^(test|bench)/'),
    forbid('common-is-a-leaf', 'common/ holds leaves every layer may use: it imports only itself', layer('common'), '^src/(?!common/)'),
    forbid('model-is-ground', 'model/ (Metric, MetricBatch, the component contract) imports only common/ and itself', layer('model'), '^src/(?!common/|model/)'),
    forbid('telemetry-is-ground', 'telemetry/ (logger, counters, self-metrics) reads components through interfaces', layer('telemetry'), '^src/(?!common/|model/|telemetry/)'),
    forbid('codec-is-pure', 'codecs know bytes, the model and common leaves: nothing about queues, config or sockets', layer('codec'), '^src/(?!common/|model/|codec/)'),
    forbid('config-is-data', 'config never reaches into the parts it configures', layer('config'), '^src/(ingest|output|routing|pipeline|sources|relay|aggregation)/'),
    forbid('routing-returns-targets', 'routing decides, never writes or receives', layer('routing'), '^src/(output|ingest|pipeline|sources|relay|aggregation)/'),
    forbid('output-knows-no-input', 'destinations know nothing of receivers, routing or the pipeline', layer('output'), '^src/(ingest|routing|pipeline|sources|relay|aggregation)/'),
    forbid('pipeline-below-producers', 'the pipeline is handed batches; it does not know who sends them', layer('pipeline'), '^src/(ingest|sources|relay|aggregation)/'),
    forbid('aggregation-hands-back', 'the aggregator is fed datapoints and hands aggregates to a callback: it never reaches destinations, the pipeline or producers', layer('aggregation'), '^src/(output|pipeline|ingest|sources|admin|relay)/'),
    forbid('ingest-hands-to-pipeline', 'receivers hand batches to the pipeline, never to a destination', layer('ingest'), '^src/(output|sources|relay|aggregation)/'),
    forbid('admin-reads-components', 'the admin listener is handed what it reports on; it never reaches the relay that runs it', layer('admin'), '^src/relay/'),
    forbid('only-cli-forks', 'cluster/ forks and supervises whole relays (workers: N): only the CLI starts it', '^src/(?!cluster/|cli\\.ts$)', layer('cluster')),
    forbid('sources-hand-to-pipeline', 'pull sources hand batches to a sink, never to a destination or a receiver', layer('sources'), '^src/(output|ingest|relay|aggregation)/'),
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // type-only imports count: a layer that knows another's types depends on it
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    includeOnly: '^src/',
  },
};
