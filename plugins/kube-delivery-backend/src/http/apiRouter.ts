import { InputError } from '@backstage/errors';
import express from 'express';
import { createOpenApiRouter } from '../schema/openapi';

/** The router of the whole API, typed and validated by `schema/openapi.yaml`. */
export type ApiRouter = Awaited<ReturnType<typeof createOpenApiRouter>>;

/** Certificate uploads: a PEM chain and key, or a base64 PKCS#12 file, of 64 KiB each. */
const UPLOAD_LIMIT = '256kb';
const BODY_LIMIT = '64kb';

const jsonBody = express.json({ limit: BODY_LIMIT });
const uploadBody = express.json({ limit: UPLOAD_LIMIT });

/**
 * The API's router: request bodies parsed as JSON, every request checked
 * against the spec before a handler runs (a 400 naming what is wrong).
 */
export async function createApiRouter(): Promise<ApiRouter> {
  const router = await createOpenApiRouter({
    middleware: [
      (req, res, next) =>
        (isUpload(req) ? uploadBody : jsonBody)(req, res, next),
      // An error handler: Express tells it by its four parameters.
      bodyErrors as unknown as express.RequestHandler,
    ],
  });
  // Backstage's handler of the validator's errors keeps only their summary
  // ("request/body must NOT have additional properties"); the errors it drops
  // name the field. Tests of hostile input see to it that this one is in place.
  const stack: Array<{ name: string; handle: Function }> = (router as any)
    .stack;
  const transformer = stack.findIndex(
    (layer, i) =>
      i > 0 &&
      stack[i - 1].name === 'requestMiddleware' &&
      layer.handle.length === 4,
  );
  if (transformer < 0) {
    throw new Error(
      'The OpenAPI router of @backstage/backend-openapi-utils has changed: no validator error handler after requestMiddleware',
    );
  }
  stack[transformer].handle = validatorErrors;
  return router;
}

/** One validator finding, as the express-openapi-validator reports it. */
interface ValidatorFinding {
  /** `/body/version`, `/query/limit`, `/params/id`. */
  path?: string;
  message: string;
  errorCode?: string;
}

/**
 * The validator's findings as one 400 that names each field: `Unknown field
 * "registry"`, `Field "version" is required`, `Query parameter "limit" must
 * be <= 100`. Its messages never quote a value.
 */
function validatorErrors(
  error: Error & { errors?: ValidatorFinding[] },
  _req: express.Request,
  _res: express.Response,
  next: express.NextFunction,
) {
  // Others (the body parser's, a handler's) pass on as they are.
  if (!Array.isArray(error.errors)) {
    next(error);
    return;
  }
  next(new InputError(error.errors.map(describeFinding).join('; ')));
}

/** The spec's pattern of one line of text: no control characters. */
const PLAIN_TEXT = '^[^\\u0000-\\u001f\\u007f]+$';

/** The spec's pattern of the ids of releases and deployments. */
const UUID = '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';

const PLACES: Record<string, string> = {
  body: 'Field',
  query: 'Query parameter',
  params: 'Path parameter',
  path: 'Path parameter',
};

/** AJV's "must be string", said as people would. */
const TYPE_WORDS: Record<string, string> = {
  'must be string': 'must be a string',
  'must be object': 'must be a JSON object',
  'must be integer': 'must be an integer',
  'must be boolean': 'must be true or false',
  'must be array': 'must be a list',
  'must be number': 'must be a number',
};

function describeFinding(finding: ValidatorFinding): string {
  const [, place = '', ...rest] = (finding.path ?? '').split('/');
  const field = rest.join('.');
  const message = TYPE_WORDS[finding.message] ?? finding.message;
  if (!PLACES[place] || !field) {
    return place === 'body' ? `The request body ${message}` : message;
  }
  if (finding.message.startsWith('Unknown')) return finding.message;
  const name = `${PLACES[place]} "${field.slice(0, 64)}"`;
  if (finding.errorCode === 'additionalProperties.openapi.validation') {
    return `Unknown ${PLACES[place].toLowerCase()} "${field.slice(0, 64)}"`;
  }
  if (finding.message.includes(UUID)) {
    return `${name} must be a UUID, as the API gave it`;
  }
  if (finding.message.includes(PLAIN_TEXT)) {
    return `${name} contains control characters`;
  }
  if (finding.errorCode === 'enum.openapi.validation') {
    return `${name} ${message.replace(
      'must be equal to one of the allowed values:',
      'must be one of',
    )}`;
  }
  if (finding.errorCode === 'required.openapi.validation') {
    return `${name} is required`;
  }
  return `${name} ${message}`;
}

function isUpload(req: { method?: string; url?: string }): boolean {
  return (
    req.method === 'POST' &&
    /^\/environments\/[^/]+\/certificates\/?(\?|$)/.test(req.url ?? '')
  );
}

/**
 * The body parser's errors, said without the body: a JSON syntax error would
 * quote part of it (which may be a key or a password), and its 413 says only
 * "request entity too large".
 */
function bodyErrors(
  error: Error & { type?: string },
  req: express.Request,
  _res: express.Response,
  next: express.NextFunction,
) {
  if (error.type === 'entity.parse.failed') {
    next(
      new InputError(
        isUpload(req)
          ? 'The request body is not valid JSON. Send PEM text as JSON strings (newlines as \\n) ' +
            'and a PKCS#12 file as base64.'
          : 'The request body is not valid JSON',
      ),
    );
  } else if (error.type === 'entity.too.large') {
    next(
      Object.assign(
        new Error(
          isUpload(req)
            ? `The upload is larger than ${UPLOAD_LIMIT}. Upload only the server certificate, ` +
              'its intermediates and its key (64 KiB each at most).'
            : `The request body is too large: at most ${BODY_LIMIT}`,
        ),
        { name: 'PayloadTooLargeError', statusCode: 413 },
      ),
    );
  } else {
    next(error);
  }
}
