/** `always`: every name gets the prefix; `prefixIfMissing`: a name that already starts with it is sent as it is. */
export type ApiKeyMode = 'prefixIfMissing' | 'always';

/**
 * What a destination writes before each name: its apiKey as `KEY.` (Hosted
 * Graphite's form). Hosted Graphite also tells clients to prefix their own
 * key, so by default a name that already carries it is not prefixed again
 * (`KEY.KEY.foo` would be stored under another series). The check is one
 * startsWith per datapoint, only when there is a prefix.
 */
export class NamePrefix {
  static readonly NONE = new NamePrefix('', 'always');

  readonly text: string;
  readonly bytes: Buffer;
  private readonly ifMissing: boolean;

  constructor(text: string, mode: ApiKeyMode) {
    this.text = text;
    this.bytes = Buffer.from(text, 'utf8');
    this.ifMissing = mode === 'prefixIfMissing';
  }

  /** Whether `name` is sent with the prefix in front. */
  appliesTo(name: string): boolean {
    return this.text.length > 0 && !(this.ifMissing && name.startsWith(this.text));
  }
}
