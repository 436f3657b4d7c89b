import fs from 'node:fs';
import YAML, { LineCounter, isScalar, type Document } from 'yaml';
import type { z } from 'zod';
import { ConfigError, ConfigErrorCode } from './config-error';

export type ConfigPath = readonly (string | number)[];

/** Where configuration data came from, for error messages: a file, and (when known) the line of a key path. */
export interface ConfigSource {
  readonly file: string;
  lineOf(path: ConfigPath): number | undefined;
  /** Validate the data against a schema; every issue is reported with its line (if known) and key path. */
  parse<S extends z.ZodType>(schema: S): z.infer<S>;
}

/** Configuration built in memory from another format (carbon.conf): errors name the file and key path. */
export class ObjectSource implements ConfigSource {
  constructor(
    readonly file: string,
    private readonly data: unknown,
  ) {}

  lineOf(): number | undefined {
    return undefined;
  }

  parse<S extends z.ZodType>(schema: S): z.infer<S> {
    return validate(this, this.data, schema);
  }
}

/** Validate data against a zod schema; all issues become one ConfigError, each with file, line and key path. */
function validate<S extends z.ZodType>(source: ConfigSource, data: unknown, schema: S): z.infer<S> {
  const result = schema.safeParse(data);
  if (result.success) return result.data;
  const messages = result.error.issues.map((issue) => {
    const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
    const unknownKey = issue.code === 'unrecognized_keys' ? ` (${issue.keys.join(', ')})` : '';
    return new ConfigError(issue.message + unknownKey, { file: source.file, line: source.lineOf(path), path: path.join('.') }, ConfigErrorCode.SCHEMA).message;
  });
  throw new ConfigError(messages.join('\n'), {}, ConfigErrorCode.SCHEMA);
}

/** A parsed YAML file that can say on which line a key path stands. */
export class YamlFile implements ConfigSource {
  private constructor(
    readonly file: string,
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  /**
   * Read and parse `file`, substituting `${VAR}` and `${VAR:-default}` from env
   * in string values (so secrets stay out of the file). Values are never echoed
   * in errors.
   */
  static read(file: string, env: NodeJS.ProcessEnv): YamlFile {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read file: ${(err as Error).message}`, { file }, ConfigErrorCode.READ);
    }
    const lines = new LineCounter();
    const doc = YAML.parseDocument(text, { lineCounter: lines, uniqueKeys: true });
    const f = new YamlFile(file, doc, lines);
    const first = doc.errors[0];
    if (first !== undefined) {
      throw new ConfigError(first.message.split('\n')[0], { file, line: first.linePos?.[0].line }, ConfigErrorCode.YAML);
    }
    YAML.visit(doc, {
      Alias(_key, node) {
        if (node.resolve(doc) === undefined) {
          throw new ConfigError('alias refers to an anchor that is not defined before it', { file, line: f.lineOfNode(node.range?.[0]) }, ConfigErrorCode.YAML);
        }
      },
      Scalar(_key, node, path) {
        if (typeof node.value !== 'string' || !node.value.includes('${')) return;
        node.value = node.value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_m, name: string, dflt: string | undefined) => {
          const v = env[name];
          if (v !== undefined && v !== '') return v;
          if (dflt !== undefined) return dflt;
          throw new ConfigError(`environment variable ${name} is not set`, {
            file,
            line: f.lineOfNode(node.range?.[0]),
            path: keyPath(path),
          }, ConfigErrorCode.ENV);
        });
      },
    });
    return f;
  }

  /** Validate against a zod schema; every issue is reported with its line and key path. */
  parse<S extends z.ZodType>(schema: S): z.infer<S> {
    let data: unknown;
    try {
      data = this.doc.toJS({ maxAliasCount: 1000 });
    } catch (err) {
      // e.g. alias expansion beyond maxAliasCount (a "billion laughs" document); the message names no values.
      throw new ConfigError(`cannot expand YAML document: ${(err as Error).name}`, { file: this.file }, ConfigErrorCode.YAML);
    }
    return validate(this, data ?? {}, schema);
  }

  /** The line of the node at `path`, or of its nearest existing parent. */
  lineOf(path: ConfigPath): number | undefined {
    for (let n = path.length; n >= 0; n--) {
      const node = this.doc.getIn(path.slice(0, n), true);
      const line = this.lineOfNode((node as { range?: [number, number, number] } | undefined)?.range?.[0]);
      if (line !== undefined) return line;
    }
    return undefined;
  }

  private lineOfNode(offset: number | undefined): number | undefined {
    return offset === undefined ? undefined : this.lines.linePos(offset).line;
  }
}

/** The dotted key path of a node from YAML.visit's ancestor list (sequence indices are not recoverable there). */
function keyPath(path: readonly unknown[]): string {
  const keys: string[] = [];
  for (let i = 1; i < path.length; i++) {
    const item = path[i] as { key?: unknown };
    if (item && typeof item === 'object' && 'key' in item && isScalar(item.key)) keys.push(String(item.key.value));
  }
  return keys.join('.');
}
