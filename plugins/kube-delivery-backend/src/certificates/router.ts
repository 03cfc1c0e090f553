import type {
  AuditorService,
  HttpAuthService,
  PermissionsService,
} from '@backstage/backend-plugin-api';
import { InputError, NotAllowedError } from '@backstage/errors';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import {
  kubeDeliveryCertificatePermission,
  stringifyTargetRef,
} from '@internal/plugin-kube-delivery-common';
import express from 'express';
import Router from 'express-promise-router';
import { actorOf } from '../http/actor';
import { runAudited } from '../http/audited';
import type { CertificateService } from './CertificateService';
import type { CertificateUploadInput } from './validate';

/** Body cap of an upload: a PEM chain and key, or a base64 PKCS#12 file, of 64 KiB each. */
const BODY_LIMIT = '256kb';

const UPLOAD_FIELDS: Record<string, ReadonlyArray<string>> = {
  pem: ['format', 'certificateChain', 'privateKey'],
  pkcs12: ['format', 'pkcs12', 'password'],
};

/** The public facts of an uploaded or issued certificate, for the audit log. */
function certificateAuditMeta(result: {
  certificate: { id: string };
}): Record<string, string> {
  const certificate = result.certificate as Record<string, unknown>;
  return {
    certificateId: certificate.id as string,
    source: certificate.source as string,
    ...(certificate.fingerprintSha256
      ? { fingerprintSha256: certificate.fingerprintSha256 as string }
      : {}),
    ...(certificate.serial ? { serial: certificate.serial as string } : {}),
  };
}

/**
 * Reads an upload body. Each problem is a 400 naming the field; messages never
 * quote a value (it may be a key or a password).
 */
export function readUploadBody(body: unknown): CertificateUploadInput {
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    throw new InputError(
      'The request body must be a JSON object: { format: "pem", certificateChain, privateKey } ' +
        'or { format: "pkcs12", pkcs12 (base64), password }',
    );
  }
  const record = body as Record<string, unknown>;
  const format = record.format;
  if (format !== 'pem' && format !== 'pkcs12') {
    throw new InputError('Field "format" must be "pem" or "pkcs12"');
  }
  const allowed = UPLOAD_FIELDS[format];
  for (const key of Object.keys(record)) {
    if (!allowed.includes(key)) {
      throw new InputError(
        `Unknown field "${key.slice(
          0,
          64,
        )}" for format "${format}"; allowed: ${allowed.join(', ')}`,
      );
    }
  }
  for (const key of allowed) {
    const value = record[key];
    // A PKCS#12 file may have an empty password; nothing else may be empty.
    if (typeof value !== 'string' || (value === '' && key !== 'password')) {
      throw new InputError(`Field "${key}" is required, as a string`);
    }
  }
  return format === 'pem'
    ? {
        format,
        certificateChain: record.certificateChain as string,
        privateKey: record.privateKey as string,
      }
    : {
        format,
        data: record.pkcs12 as string,
        password: record.password as string,
      };
}

/**
 * `GET /environments/:name/certificates`, `POST /environments/:name/certificates`
 * (upload) and `POST /environments/:name/certificates/cert-manager`. Reading
 * needs user or service credentials; changes need `kube-delivery.certificate.update`
 * on the environment.
 */
export function createCertificateRouter(options: {
  httpAuth: HttpAuthService;
  permissions: PermissionsService;
  auditor: AuditorService;
  certificates: CertificateService;
}): express.Router {
  const { httpAuth, permissions, auditor, certificates } = options;
  const router = Router();
  const path = '/environments/:name/certificates';
  router.use(path, express.json({ limit: BODY_LIMIT }));

  /**
   * The gate of a change: the certificate permission on the environment (the
   * target `<environment>`, whose conditions Backstage's permission backend
   * evaluates through the plugin's permission integration).
   */
  async function authorized(req: express.Request) {
    const credentials = await httpAuth.credentials(req, {
      allow: ['user', 'service'],
    });
    const target = stringifyTargetRef({ environment: req.params.name });
    const [decision] = await permissions.authorize(
      [{ permission: kubeDeliveryCertificatePermission, resourceRef: target }],
      { credentials },
    );
    if (decision.result !== AuthorizeResult.ALLOW) {
      throw new NotAllowedError(
        `You may not ${
          kubeDeliveryCertificatePermission.name
        } on ${target.slice(0, 64)}; ask your platform team`,
      );
    }
    return credentials;
  }

  /** Runs a change inside an auditor event whose metadata holds public facts only. */
  function audited<T extends { certificate: { id: string } }>(
    req: express.Request,
    eventId: string,
    meta: Record<string, string>,
    run: () => Promise<T>,
  ): Promise<T> {
    return runAudited(
      auditor,
      { request: req, eventId, meta, successMeta: certificateAuditMeta },
      run,
    );
  }

  router.get(path, async (req, res) => {
    await httpAuth.credentials(req, { allow: ['user', 'service'] });
    res.json(await certificates.list(req.params.name));
  });

  router.post(path, async (req, res) => {
    const credentials = await authorized(req);
    const environment = req.params.name;
    const format = (req.body as { format?: unknown })?.format;
    const result = await audited(
      req,
      'certificate-upload',
      {
        environment: environment.slice(0, 64),
        format: format === 'pem' || format === 'pkcs12' ? format : 'invalid',
      },
      () =>
        certificates.upload({
          environment,
          certificate: readUploadBody(req.body),
          actor: actorOf(credentials),
        }),
    );
    res.status(201).json(result);
  });

  router.post(`${path}/cert-manager`, async (req, res) => {
    const credentials = await authorized(req);
    const body = req.body ?? {};
    if (typeof body !== 'object' || Object.keys(body).length > 0) {
      throw new InputError(
        'The body must be empty: the issuer comes from app-config (gateway.tls.certManager)',
      );
    }
    const environment = req.params.name;
    const result = await audited(
      req,
      'certificate-cert-manager',
      { environment: environment.slice(0, 64) },
      () =>
        certificates.useCertManager({
          environment,
          actor: actorOf(credentials),
        }),
    );
    res.status(201).json(result);
  });

  // The body parser's errors: its 413 says only "request entity too large", and a
  // JSON syntax error quotes part of the body, which may be a key or a password.
  router.use(
    (
      error: Error & { type?: string },
      _req: express.Request,
      _res: express.Response,
      next: express.NextFunction,
    ) => {
      if (error.type === 'entity.parse.failed') {
        next(
          new InputError(
            'The request body is not valid JSON. Send PEM text as JSON strings (newlines as \\n) ' +
              'and a PKCS#12 file as base64.',
          ),
        );
      } else if (error.type === 'entity.too.large') {
        next(
          Object.assign(
            new Error(
              `The upload is larger than ${BODY_LIMIT}. Upload only the server certificate, ` +
                'its intermediates and its key (64 KiB each at most).',
            ),
            { name: 'PayloadTooLargeError', statusCode: 413 },
          ),
        );
      } else {
        next(error);
      }
    },
  );

  return router;
}
