import { DEFAULT_MAX_NAME_LENGTH, isNameTooLong } from '../codec/metric-name';
import { baseNameFault, NameFault, type StrictNameRules } from '../codec/name-validation';
import { FilterVerdict, type NameFilter } from './name-filter';
import type { Rewriter } from './rewriter';
import { RouteCache } from './route-cache';
import type { RuleSet } from './rule-set';
import { normalizeTaggedName } from './tags';

/** Something a rule can name: a destination, or a group that picks destinations per metric (hash ring). */
export interface Target<D> {
  /** Append the destinations for `name` to `out`, skipping ones already there, in send order. */
  collect(name: string, out: D[]): void;
}

/** A rule target that is one destination. */
export class DirectTarget<D> implements Target<D> {
  constructor(readonly destination: D) {}

  collect(_name: string, out: D[]): void {
    if (!out.includes(this.destination)) out.push(this.destination);
  }
}

export const enum RouteVerdict {
  Ok = 0,
  InvalidName = 1,
  Blacklisted = 2,
  NotWhitelisted = 3,
  /** Over maxNameLength bytes; decided before the route cache, never cached. */
  NameTooLong = 4,
  /** A rewrite rule made the name empty, unsafe (whitespace, control characters) or longer than maxNameLength. */
  InvalidRewrite = 5,
}

/** The routing decision for one received name; computed once per distinct name and cached. */
export interface Route<D> {
  readonly verdict: RouteVerdict;
  /** The name to send (rewritten, then tag-normalised, when configured); for InvalidRewrite, what the rewrite made of it (if within maxNameLength). */
  readonly name: string;
  readonly destinations: readonly D[];
  /** Tag normalisation was on and the name did not parse; it is routed as received (as carbon does). */
  readonly tagError: boolean;
  /** The worst thing wrong with the received name: each listener refuses faults at or above its validation level's threshold. */
  readonly fault: NameFault;
  /** A rewrite rule changed the name. */
  readonly rewritten: boolean;
}

export interface RouterOptions {
  filter?: NameFilter;
  normalizeTags: boolean;
  cacheSize: number;
  /** listen.maxNameLength: longest name routed, in UTF-8 bytes; default DEFAULT_MAX_NAME_LENGTH. */
  maxNameLength?: number;
  /** The strict level's rules, when a listener uses it: each distinct name is checked once, with its route. */
  strict?: StrictNameRules;
  /** `rewrite:` rules, applied after the filters and before tag normalisation and the rules. */
  rewriter?: Rewriter;
}

const NO_DESTINATIONS: readonly never[] = Object.freeze([]);

/**
 * Name -> destinations, as carbon-relay decides it: blacklist, whitelist,
 * (our) rewrite rules, tag normalisation, then rules whose targets may be hash
 * groups. Every step is a pure function of the name, so the result (and the
 * name's validation fault) is memoised per name; a filter file reload
 * invalidates the memo.
 */
export class Router<D> {
  private readonly cache: RouteCache<Route<D>>;
  readonly maxNameLength: number;
  /** Names of at most this many UTF-16 units fit whatever their characters: one compare per datapoint. */
  private readonly alwaysFits: number;
  /** The destination lists handed out so far (see shared()). */
  private readonly lists = new Map<D | undefined, (readonly D[])[]>();

  constructor(
    readonly rules: RuleSet<Target<D>>,
    private readonly opts: RouterOptions,
  ) {
    this.cache = new RouteCache(opts.cacheSize, (name) => this.resolve(name));
    this.maxNameLength = opts.maxNameLength ?? DEFAULT_MAX_NAME_LENGTH;
    this.alwaysFits = Math.floor(this.maxNameLength / 3);
  }

  route(name: string): Route<D> {
    // Before the cache: a name over the limit must never become a key (one per distinct name, each up to a frame long).
    if (name.length > this.alwaysFits && isNameTooLong(name, this.maxNameLength)) {
      return { verdict: RouteVerdict.NameTooLong, name, destinations: NO_DESTINATIONS, tagError: false, fault: NameFault.None, rewritten: false };
    }
    return this.cache.get(name);
  }

  /** Forget cached decisions (after a filter list changed). */
  invalidate(): void {
    this.cache.clear();
  }

  /**
   * One array for every name routed to the same destinations: ten thousand
   * names then share a few arrays that stay in the CPU cache, instead of each
   * datapoint loading its name's own copy from memory.
   */
  private shared(list: D[]): readonly D[] {
    // bucketed by the first destination: a hash ring's lists differ there
    let lists = this.lists.get(list[0]);
    if (lists === undefined) {
      if (this.lists.size >= MAX_SHARED_BUCKETS) return list;
      lists = [];
      this.lists.set(list[0], lists);
    }
    for (let i = 0; i < lists.length; i++) if (sameList(lists[i], list)) return lists[i];
    if (lists.length < MAX_SHARED_PER_BUCKET) lists.push(list);
    return list;
  }

  private resolve(name: string): Route<D> {
    const base = baseNameFault(name);
    if (base === NameFault.Unsafe) return dropped(RouteVerdict.InvalidName, name, base);
    // the base fault outranks any strict one, so strict is only asked about names that pass the base checks
    const fault = base !== NameFault.None || this.opts.strict === undefined ? base : this.opts.strict.fault(name);
    const f = this.opts.filter?.verdict(name) ?? FilterVerdict.Pass;
    if (f === FilterVerdict.Blacklisted) return dropped(RouteVerdict.Blacklisted, name, fault);
    if (f === FilterVerdict.NotWhitelisted) return dropped(RouteVerdict.NotWhitelisted, name, fault);
    let routed = name;
    let rewritten = false;
    if (this.opts.rewriter !== undefined) {
      const r = this.opts.rewriter.rewrite(name);
      if (r !== name) {
        // a rewrite's output is never cleansed (as in carbon-c-relay), so it is held to the bounds every level keeps
        if (isNameTooLong(r, this.maxNameLength)) return dropped(RouteVerdict.InvalidRewrite, name, fault, true);
        if (baseNameFault(r) === NameFault.Unsafe) return dropped(RouteVerdict.InvalidRewrite, r, fault, true);
        routed = r;
        rewritten = true;
      }
    }
    let tagError = false;
    if (this.opts.normalizeTags) {
      const normalized = normalizeTaggedName(routed);
      if (normalized === undefined) tagError = true;
      else routed = normalized;
    }
    const destinations: D[] = [];
    for (const target of this.rules.match(routed)) target.collect(routed, destinations);
    return { verdict: RouteVerdict.Ok, name: routed, destinations: this.shared(destinations), tagError, fault, rewritten };
  }
}

/** Bounds on the destination lists a router shares between names (by first destination, then per bucket); past them a list is kept per name. */
const MAX_SHARED_BUCKETS = 1024;
const MAX_SHARED_PER_BUCKET = 16;

function sameList<D>(a: readonly D[], b: readonly D[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function dropped(verdict: RouteVerdict, name: string, fault: NameFault, rewritten = false): Route<never> {
  return { verdict, name, destinations: NO_DESTINATIONS, tagError: false, fault, rewritten };
}
