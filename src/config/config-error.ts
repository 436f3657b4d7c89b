export interface ConfigErrorLocation {
  file?: string;
  line?: number;
  /** Dotted key path, e.g. `destinations.0.port`. */
  path?: string;
}

/** A configuration problem, rendered as `file:line: path: what is wrong`. Never includes a configured value. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';

  constructor(problem: string, readonly where: ConfigErrorLocation) {
    super(render(problem, where));
  }
}

function render(problem: string, w: ConfigErrorLocation): string {
  let head = '';
  if (w.file !== undefined) head = w.line !== undefined ? `${w.file}:${w.line}: ` : `${w.file}: `;
  if (w.path !== undefined && w.path !== '') head += `${w.path}: `;
  return head + problem;
}
