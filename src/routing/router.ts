import { DEFAULT_MAX_NAME_LENGTH, isNameTooLong, isValidMetricName } from '../codec/metric-name';
import { FilterVerdict, type NameFilter } from './name-filter';
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
}

/** The routing decision for one received name; computed once per distinct name and cached. */
export interface Route<D> {
  readonly verdict: RouteVerdict;
  /** The name to send (tag-normalised when configured). */
  readonly name: string;
  readonly destinations: readonly D[];
  /** Tag normalisation was on and the name did not parse; it is routed as received (as carbon does). */
  readonly tagError: boolean;
}

export interface RouterOptions {
  filter?: NameFilter;
  normalizeTags: boolean;
  cacheSize: number;
  /** listen.maxNameLength: longest name routed, in UTF-8 bytes; default DEFAULT_MAX_NAME_LENGTH. */
  maxNameLength?: number;
}

const NO_DESTINATIONS: readonly never[] = Object.freeze([]);

/**
 * Name -> destinations, as carbon-relay decides it: blacklist, whitelist, tag
 * normalisation, then rules whose targets may be hash groups. Every step is a
 * pure function of the name, so the result is memoised per name; a filter file
 * reload invalidates the memo.
 */
export class Router<D> {
  private readonly cache: RouteCache<Route<D>>;
  readonly maxNameLength: number;
  /** Names of at most this many UTF-16 units fit whatever their characters: one compare per datapoint. */
  private readonly alwaysFits: number;

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
      return { verdict: RouteVerdict.NameTooLong, name, destinations: NO_DESTINATIONS, tagError: false };
    }
    return this.cache.get(name);
  }

  /** Forget cached decisions (after a filter list changed). */
  invalidate(): void {
    this.cache.clear();
  }

  private resolve(name: string): Route<D> {
    if (!isValidMetricName(name)) return { verdict: RouteVerdict.InvalidName, name, destinations: [], tagError: false };
    const f = this.opts.filter?.verdict(name) ?? FilterVerdict.Pass;
    if (f === FilterVerdict.Blacklisted) return { verdict: RouteVerdict.Blacklisted, name, destinations: [], tagError: false };
    if (f === FilterVerdict.NotWhitelisted) return { verdict: RouteVerdict.NotWhitelisted, name, destinations: [], tagError: false };
    let routed = name;
    let tagError = false;
    if (this.opts.normalizeTags) {
      const normalized = normalizeTaggedName(name);
      if (normalized === undefined) tagError = true;
      else routed = normalized;
    }
    const destinations: D[] = [];
    for (const target of this.rules.match(routed)) target.collect(routed, destinations);
    return { verdict: RouteVerdict.Ok, name: routed, destinations, tagError };
  }
}
