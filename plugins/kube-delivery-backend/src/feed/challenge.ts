/** One challenge of a `WWW-Authenticate` header (RFC 7235). */
export interface AuthChallenge {
  /** The scheme, lower case: `basic`, `bearer`, ... */
  scheme: string;
  /** Auth parameters, names lower case: `realm`, `service`, `scope`, `error`. */
  params: Record<string, string>;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+/;

/**
 * Parses a `WWW-Authenticate` header into its challenges, e.g.
 * `Bearer realm="https://auth.example/token",service="registry",scope="repository:x:pull"`.
 * Malformed input ends the parse; what was understood so far is returned.
 */
export function parseWwwAuthenticate(header: string | null): AuthChallenge[] {
  const challenges: AuthChallenge[] = [];
  if (!header) return challenges;
  let rest = header.slice(0, 8192);
  const skip = (pattern: RegExp) => {
    rest = rest.replace(pattern, '');
  };
  let current: AuthChallenge | undefined;
  for (;;) {
    skip(/^[\s,]+/);
    if (!rest) break;
    const name = TOKEN.exec(rest)?.[0];
    if (!name) break;
    rest = rest.slice(name.length);
    skip(/^[ \t]*/);
    if (rest.startsWith('=') && current) {
      // An auth parameter of the current challenge.
      rest = rest.slice(1);
      skip(/^[ \t]*/);
      let value: string;
      if (rest.startsWith('"')) {
        const quoted = /^"((?:[^"\\]|\\.)*)"/.exec(rest);
        if (!quoted) break;
        value = quoted[1].replace(/\\(.)/g, '$1');
        rest = rest.slice(quoted[0].length);
      } else {
        // Leniently up to the next comma: some servers leave URLs unquoted.
        value = /^[^\s,"]*/.exec(rest)![0];
        rest = rest.slice(value.length);
      }
      current.params[name.toLowerCase()] = value;
    } else {
      // A new challenge: `Scheme` followed by parameters (or a token68, ignored).
      current = { scheme: name.toLowerCase(), params: {} };
      challenges.push(current);
      const token68 = /^[A-Za-z0-9._~+/-]+=*(?=\s*(,|$))/.exec(rest);
      if (token68 && !/^[A-Za-z0-9!#$%&'*+.^_`|~-]+\s*=[^=]/.test(rest)) {
        rest = rest.slice(token68[0].length);
      }
    }
  }
  return challenges;
}
