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
  type CertificateUpload,
} from '@internal/plugin-kube-delivery-common';
import type express from 'express';
import type { ApiRouter } from '../http/apiRouter';
import { actorOf } from '../http/actor';
import { runAudited } from '../http/audited';
import type { CertificateService } from './CertificateService';
import type { CertificateUploadInput } from './validate';

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
 * The fields of an upload's format (the spec allows the fields of both). Each
 * problem is a 400 naming the field; messages never quote a value (it may be a
 * key or a password).
 */
function readUploadBody(
  body: CertificateUpload,
): CertificateUploadInput {
  const allowed = UPLOAD_FIELDS[body.format];
  for (const key of Object.keys(body)) {
    if (!allowed.includes(key)) {
      throw new InputError(
        `Unknown field "${key}" for format "${body.format}"; allowed: ${allowed.join(', ')}`,
      );
    }
  }
  for (const key of allowed) {
    const value = body[key as keyof CertificateUpload];
    // A PKCS#12 file may have an empty password; nothing else may be empty.
    if (typeof value !== 'string' || (value === '' && key !== 'password')) {
      throw new InputError(`Field "${key}" is required, as a string`);
    }
  }
  return body.format === 'pem'
    ? {
        format: 'pem',
        certificateChain: body.certificateChain!,
        privateKey: body.privateKey!,
      }
    : { format: 'pkcs12', data: body.pkcs12!, password: body.password! };
}

/**
 * `GET /environments/{name}/certificates`, `POST /environments/{name}/certificates`
 * (upload) and `POST /environments/{name}/certificates/cert-manager`. Reading
 * needs user or service credentials; changes need `kube-delivery.certificate.update`
 * on the environment.
 */
export function addCertificateRoutes(
  router: ApiRouter,
  options: {
    httpAuth: HttpAuthService;
    permissions: PermissionsService;
    auditor: AuditorService;
    certificates: CertificateService;
  },
): void {
  const { httpAuth, permissions, auditor, certificates } = options;
  const path = '/environments/:name/certificates';

  /**
   * The gate of a change: the certificate permission on the environment (the
   * target `<environment>`, whose conditions Backstage's permission backend
   * evaluates through the plugin's permission integration).
   */
  async function authorized(req: express.Request<{ name: string }>) {
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
    const result = await audited(
      req,
      'certificate-upload',
      {
        environment: environment.slice(0, 64),
        format: req.body.format,
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
}
