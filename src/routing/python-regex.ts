/** Carbon's patterns are Python regexes; translate the named-group syntax JS spells differently. */
export function pythonToJsRegex(pattern: string): string {
  return pattern.replace(/\(\?P<([A-Za-z_]\w*)>/g, '(?<$1>').replace(/\(\?P=([A-Za-z_]\w*)\)/g, '\\k<$1>');
}
