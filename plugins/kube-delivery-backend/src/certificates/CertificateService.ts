import type {
  LoggerService,
  SchedulerService,
} from '@backstage/backend-plugin-api';
import { ConflictError, InputError } from '@backstage/errors';
import type {
  CertificateStatus,
  CertificateChange,
  GatewayCertificateList,
  GatewayCertificate,
  GatewayRef,
} from '@internal/plugin-kube-delivery-common';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { EnvironmentCluster } from '../cluster';
import { LABEL_MANAGED_BY, MANAGER } from '../cluster/managedObjects';
import type { EnvironmentConfig } from '../config/environments';
import type { EnvironmentRegistry } from '../config/EnvironmentRegistry';
import type { EventRecorder } from '../events';
import type { DeliveryNotifier } from '../notifications';
import {
  acmeRedirectRefusal,
  gatewayTlsOf,
  type CertificateSettings,
} from './config';
import type { CertificateRecord, CertificateStore } from './CertificateStore';
import {
  CERTIFICATE_API_VERSION,
  certManagerCertificate,
  certManagerStatus,
  gatewayApiPatch,
  GATEWAY_API_VERSION,
  istioGatewayPatch,
  ISTIO_GATEWAY_API_VERSION,
  missingHttps,
  tlsSecret,
  type CertManagerStatus,
  type HttpsTarget,
  type IstioGateway,
} from './gatewayObjects';
import {
  validateCertificateUpload,
  type CertificateUploadInput,
  type ValidatedCertificate,
} from './validate';

/** The actor of the scheduled expiry check in the history. */
export const EXPIRY_CHECK_ACTOR = 'kube-delivery:certificate-expiry';

const DAY_MS = 24 * 60 * 60 * 1000;
const LIST_LIMIT = 20;
const GATEWAY_WRITE_ATTEMPTS = 5;

interface GatewaySetup {
  environment: EnvironmentConfig;
  gateway: NonNullable<EnvironmentConfig['gateway']>;
  api: 'istio' | 'gateway-api';
  target: HttpsTarget;
  ref: GatewayRef;
  cluster: EnvironmentCluster;
}

/**
 * HTTPS of environment gateways: uploads (validated before anything is
 * written), switches to cert-manager, the list of an environment's
 * certificates and the scheduled expiry check. Every cluster call uses the
 * gateway's own credentials (`gateway.cluster`), confined to its namespace.
 */
export class CertificateService {
  constructor(
    private readonly options: {
      environments: EnvironmentRegistry;
      store: CertificateStore;
      /** The environment timeline. */
      events: EventRecorder;
      /** The client of an environment gateway's namespace, from the gateway's own credentials (ClusterClients.gateway). */
      cluster: (environment: EnvironmentConfig) => EnvironmentCluster;
      settings: CertificateSettings;
      logger: LoggerService;
      /** Tells the platform team about a certificate the expiry check flagged. */
      notifier?: Pick<DeliveryNotifier, 'certificateExpiring'>;
    },
  ) {}

  /** The gateway of an environment and its certificates, newest (active) first. */
  async list(environmentName: string): Promise<GatewayCertificateList> {
    const setup = this.setup(environmentName);
    const records = await this.options.store.list(environmentName, LIST_LIMIT);
    const now = new Date();
    const live =
      records[0]?.source === 'cert-manager'
        ? await this.readCertManager(setup)
        : undefined;
    return {
      environment: environmentName,
      gateway: { ...setup.ref, ...(await this.servingState(setup, records)) },
      items: records.map((record, index) =>
        this.toView(record, index === 0, index === 0 ? live : undefined, now),
      ),
    };
  }

  /** Validates the upload, then writes the Secret and the gateway's HTTPS server, and records it. */
  async upload(input: {
    environment: string;
    certificate: CertificateUploadInput;
    actor: string;
  }): Promise<CertificateChange> {
    const setup = this.setup(input.environment);
    const validated = validateCertificateUpload(input.certificate, {
      hosts: setup.target.hosts,
      expiryWarningDays: this.options.settings.expiryWarningDays,
    });
    const secret = tlsSecret({
      environment: input.environment,
      secretName: setup.target.secretName,
      chainPem: validated.chainPem,
      keyPem: validated.keyPem,
      fingerprintSha256: validated.metadata.fingerprintSha256,
    });
    const before = await this.ownObjects(setup);
    await this.writeWithGateway(setup, before, () =>
      withoutSecretValues(secret, async () => {
        await setup.cluster.dryRun([secret, await this.gatewayPatch(setup)]);
        // A cert-manager Certificate would overwrite the uploaded Secret.
        await setup.cluster.delete(
          CERTIFICATE_API_VERSION,
          'Certificate',
          setup.target.secretName,
        );
        await setup.cluster.apply([secret]);
      }),
    );
    const record = await this.options.store.add(
      uploadRecord(setup, validated, input.actor),
    );
    await this.recordChange(
      record,
      `Certificate uploaded for ${setup.target.hosts.join(', ')}: ${
        record.subject
      }, expires ${record.notAfter}`,
    );
    this.options.logger.info('gateway certificate uploaded', {
      environment: input.environment,
      gateway: `${setup.ref.namespace}/${setup.ref.name}`,
      fingerprintSha256: record.fingerprintSha256,
      actor: input.actor,
    });
    return {
      certificate: this.toView(record, true, undefined, new Date()),
      warnings: validated.warnings,
    };
  }

  /** Lets cert-manager issue the gateway's certificate from the configured issuer into the same Secret. */
  async useCertManager(input: {
    environment: string;
    actor: string;
  }): Promise<CertificateChange> {
    const setup = this.setup(input.environment);
    const issuer = setup.ref.certManagerIssuer;
    if (!issuer) {
      throw new InputError(
        `Environment "${input.environment}" has no cert-manager issuer; set ` +
          'kubeDelivery.environments[].gateway.tls.certManager.issuerName in app-config',
      );
    }
    // Refused at start-up for app-config; an environment configured in code
    // gets the same answer here, before anything is written.
    const refusal = acmeRedirectRefusal(
      setup.api,
      setup.target.httpsRedirect,
      issuer,
    );
    if (refusal) {
      throw new InputError(`Environment "${input.environment}": ${refusal}`);
    }
    const certificate = certManagerCertificate({
      environment: input.environment,
      secretName: setup.target.secretName,
      hosts: setup.target.hosts,
      issuer,
    });
    const before = await this.ownObjects(setup);
    await this.writeWithGateway(setup, before, async () => {
      await setup.cluster.dryRun([certificate, await this.gatewayPatch(setup)]);
      await setup.cluster.apply([certificate]);
    });
    const record = await this.options.store.add({
      environment: input.environment,
      gateway: `${setup.ref.namespace}/${setup.ref.name}`,
      source: 'cert-manager',
      secretName: setup.target.secretName,
      hosts: setup.target.hosts,
      sans: setup.target.hosts,
      issuer: `${issuer.kind}/${issuer.name}`,
      warnings: [],
      uploadedBy: input.actor,
    });
    await this.recordChange(
      record,
      `Switched to cert-manager (${issuer.kind} ${
        issuer.name
      }) for ${setup.target.hosts.join(', ')}`,
    );
    const live = await this.readCertManager(setup);
    return {
      certificate: this.toView(record, true, live, new Date()),
      warnings: [],
    };
  }

  /**
   * Flags every active certificate that expires within the threshold (or has
   * expired) once, with an event in the environment's timeline. Returns the
   * number flagged.
   */
  async checkExpiry(now: Date = new Date()): Promise<number> {
    let flagged = 0;
    for (const environment of this.options.environments.list()) {
      if (!environment.gateway) continue;
      try {
        if (await this.checkEnvironmentExpiry(environment.name, now)) flagged++;
      } catch (error) {
        this.options.logger.error('certificate expiry check failed', {
          environment: environment.name,
          error: (error as Error).message,
        });
      }
    }
    return flagged;
  }

  /** Runs the expiry check on a schedule, on one backend replica at a time. */
  async schedule(scheduler: SchedulerService): Promise<void> {
    await scheduler.scheduleTask({
      id: 'kube-delivery-certificate-expiry',
      frequency: { minutes: this.options.settings.checkIntervalMinutes },
      timeout: { minutes: 5 },
      initialDelay: { seconds: 30 },
      scope: 'global',
      fn: async () => {
        await this.checkExpiry();
      },
    });
  }

  // --- internals -------------------------------------------------------------

  private async checkEnvironmentExpiry(name: string, now: Date) {
    const record = await this.options.store.active(name);
    if (!record || record.expiryFlaggedAt) return false;
    let notAfter = record.notAfter;
    if (record.source === 'cert-manager') {
      notAfter = (await this.readCertManager(this.setup(name)))?.notAfter;
    }
    if (!notAfter) return false;
    const days = daysBetween(now, notAfter);
    if (days >= this.options.settings.expiryWarningDays) return false;
    if (!(await this.options.store.markExpiryFlagged(record.id, now))) {
      return false;
    }
    const gateway = record.gateway;
    await this.options.events.record({
      environment: name,
      kind: 'certificate-changed',
      message:
        days < 0
          ? `The certificate of gateway ${gateway} expired on ${notAfter}. Upload a renewed one.`
          : `The certificate of gateway ${gateway} expires in ${days} day(s), on ${notAfter}. ${
              record.source === 'cert-manager'
                ? 'cert-manager has not renewed it: check its Certificate and issuer.'
                : 'Upload a renewed one.'
            }`,
      details: {
        change: days < 0 ? 'expired' : 'expiring',
        certificateId: record.id,
        source: record.source,
        notAfter,
        daysToExpiry: days,
        ...(record.fingerprintSha256 && {
          fingerprintSha256: record.fingerprintSha256,
        }),
      },
      actor: EXPIRY_CHECK_ACTOR,
    });
    this.options.logger.warn('gateway certificate expiring', {
      environment: name,
      notAfter,
      daysToExpiry: days,
    });
    this.options.notifier?.certificateExpiring({
      environment: name,
      gateway,
      notAfter,
      daysToExpiry: days,
      source: record.source,
      certificateId: record.id,
    });
    return true;
  }

  private setup(environmentName: string): GatewaySetup {
    const environment = this.options.environments.require(environmentName);
    const gateway = environment.gateway;
    if (!gateway) {
      throw new InputError(
        `Environment "${environment.name}" has no gateway; configure ` +
          'kubeDelivery.environments[].gateway in app-config',
      );
    }
    if (!gateway.cluster) {
      throw new InputError(
        `Environment "${environment.name}" has no credentials for its gateway's namespace; ` +
          `configure kubeDelivery.environments[].gateway.cluster with a ServiceAccount ` +
          `token scoped to namespace "${gateway.namespace}"`,
      );
    }
    if (gateway.hosts.length === 0) {
      throw new InputError(
        `Environment "${environment.name}" has no gateway hosts; list them in ` +
          'kubeDelivery.environments[].gateway.hosts',
      );
    }
    const tls = gatewayTlsOf(environment);
    const api = gateway.api ?? 'istio';
    return {
      environment,
      gateway,
      api,
      target: {
        environment: environment.name,
        gatewayName: gateway.name,
        routeNamespace: environment.namespace,
        hosts: gateway.hosts,
        secretName: tls.secretName,
        httpsRedirect: tls.httpsRedirect,
      },
      ref: {
        api,
        namespace: gateway.namespace,
        name: gateway.name,
        hosts: gateway.hosts,
        secretName: tls.secretName,
        httpsRedirect: tls.httpsRedirect,
        ...(tls.certManagerIssuer && {
          certManagerIssuer: tls.certManagerIssuer,
        }),
      },
      cluster: this.options.cluster(environment),
    };
  }

  /**
   * Writes the Secret or Certificate (`write`), then the Gateway. When the
   * Gateway cannot be written, puts the Secret and Certificate back as they
   * were (`before`), so a failed change leaves the gateway serving what it
   * served and nothing half applied.
   */
  private async writeWithGateway(
    setup: GatewaySetup,
    before: OwnObjects,
    write: () => Promise<void>,
  ): Promise<void> {
    await write();
    try {
      await this.writeGateway(setup);
    } catch (error) {
      try {
        await this.restore(setup, before);
      } catch (restoreError) {
        this.options.logger.warn(
          'could not put the gateway certificate objects back',
          {
            environment: setup.environment.name,
            error: (restoreError as Error).message,
          },
        );
        throw new Error(
          `${(error as Error).message}. Putting Secret "${
            setup.target.secretName
          }" and its ` +
            `cert-manager Certificate back as they were failed too (${
              (restoreError as Error).message
            }); upload the certificate again once the gateway namespace answers.`,
        );
      }
      throw error;
    }
  }

  private async restore(
    setup: GatewaySetup,
    before: OwnObjects,
  ): Promise<void> {
    const { cluster } = setup;
    const name = setup.target.secretName;
    if (before.certificate) {
      await cluster.apply([restorable(before.certificate)]);
    } else {
      await cluster.delete(CERTIFICATE_API_VERSION, 'Certificate', name);
    }
    const secret = before.secret;
    if (secret) {
      await withoutSecretValues(secret, () =>
        cluster.apply([restorable(secret)]),
      );
    } else {
      await cluster.delete('v1', 'Secret', name);
    }
  }

  /**
   * The Secret and cert-manager Certificate of the configured name as they
   * are now. Refuses to take over ones that Kube Delivery did not create
   * (server-side apply with force would silently replace another team's
   * certificate).
   */
  private async ownObjects(setup: GatewaySetup): Promise<OwnObjects> {
    const { secretName } = setup.target;
    const where = `in namespace "${setup.gateway.namespace}"`;
    const fix =
      'Set another kubeDelivery.environments[].gateway.tls.secretName, or remove it if it is unused';
    const secret = await setup.cluster.read('v1', 'Secret', secretName);
    if (secret && !isOurs(secret)) {
      throw new ConflictError(
        `Secret "${secretName}" ${where} exists and was not created by Kube Delivery. ${fix}.`,
      );
    }
    const certificate = await setup.cluster.read(
      CERTIFICATE_API_VERSION,
      'Certificate',
      secretName,
    );
    if (certificate && !isOurs(certificate)) {
      throw new ConflictError(
        `cert-manager Certificate "${secretName}" ${where} exists and was not created by ` +
          `Kube Delivery. ${fix}.`,
      );
    }
    return { secret, certificate };
  }

  /** Whether the live Gateway still serves the environment's HTTPS; nothing when it cannot be read. */
  private async servingState(
    setup: GatewaySetup,
    records: CertificateRecord[],
  ): Promise<Pick<GatewayRef, 'serving' | 'servingMessage'>> {
    let live: KubernetesObject | undefined;
    try {
      live = await setup.cluster.read(
        setup.api === 'istio' ? ISTIO_GATEWAY_API_VERSION : GATEWAY_API_VERSION,
        'Gateway',
        setup.gateway.name,
      );
    } catch (error) {
      this.options.logger.warn('cannot read the gateway', {
        environment: setup.environment.name,
        error: (error as Error).message,
      });
      return {};
    }
    const gateway = `Gateway ${setup.gateway.namespace}/${setup.gateway.name}`;
    if (!live) {
      return {
        serving: false,
        servingMessage: `${gateway} does not exist; create it, or correct the environment's gateway in app-config`,
      };
    }
    const missing = missingHttps(setup.api, live, setup.target);
    if (!missing) return { serving: true };
    // cert-manager is offered only where the environment configures an issuer.
    const issuer = setup.ref.certManagerIssuer;
    return {
      serving: false,
      servingMessage: records.length
        ? `${gateway} does not serve HTTPS for these hosts: ${missing}. ${
            records[0].source === 'cert-manager' && issuer
              ? 'Switch to cert-manager again'
              : 'Upload the certificate again'
          } to restore it.`
        : `No certificate yet: upload one${
            issuer
              ? ` or switch to cert-manager (${issuer.kind}/${issuer.name})`
              : ''
          }.`,
    };
  }

  /** The Gateway change of the environment, computed on the live Gateway. */
  private async gatewayPatch(setup: GatewaySetup): Promise<KubernetesObject> {
    const apiVersion =
      setup.api === 'istio' ? ISTIO_GATEWAY_API_VERSION : GATEWAY_API_VERSION;
    const live = await setup.cluster.read<IstioGateway>(
      apiVersion,
      'Gateway',
      setup.gateway.name,
    );
    if (!live) {
      throw new InputError(
        `Gateway ${setup.gateway.namespace}/${setup.gateway.name} (${apiVersion}) does not ` +
          'exist; create it, or correct kubeDelivery.environments[].gateway',
      );
    }
    return setup.api === 'istio'
      ? istioGatewayPatch(live, setup.target)
      : gatewayApiPatch(setup.target);
  }

  /**
   * Writes the gateway after a dry run. An Istio Gateway is written with the
   * resourceVersion it was read at; on a conflict it is read again and the
   * change recomputed, so a concurrent edit of other servers is never lost.
   */
  private async writeGateway(setup: GatewaySetup): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const patch = await this.gatewayPatch(setup);
      try {
        await setup.cluster.dryRun([patch]);
        await setup.cluster.apply([patch]);
        return;
      } catch (error) {
        if (
          !(error instanceof ConflictError) ||
          attempt >= GATEWAY_WRITE_ATTEMPTS
        ) {
          throw error;
        }
      }
    }
  }

  private async readCertManager(
    setup: GatewaySetup,
  ): Promise<CertManagerStatus | undefined> {
    try {
      const certificate = await setup.cluster.read(
        CERTIFICATE_API_VERSION,
        'Certificate',
        setup.target.secretName,
      );
      return certificate ? certManagerStatus(certificate) : undefined;
    } catch (error) {
      this.options.logger.warn('cannot read cert-manager Certificate', {
        environment: setup.environment.name,
        error: (error as Error).message,
      });
      return undefined;
    }
  }

  private async recordChange(record: CertificateRecord, message: string) {
    await this.options.events.record({
      environment: record.environment,
      kind: 'certificate-changed',
      message,
      details: {
        change: record.source === 'upload' ? 'uploaded' : 'cert-manager',
        certificateId: record.id,
        gateway: record.gateway,
        hosts: record.hosts,
        ...(record.subject && { subject: record.subject }),
        ...(record.notAfter && { notAfter: record.notAfter }),
        ...(record.fingerprintSha256 && {
          fingerprintSha256: record.fingerprintSha256,
        }),
        ...(record.issuer && { issuer: record.issuer }),
      },
      actor: record.uploadedBy,
    });
  }

  private toView(
    record: CertificateRecord,
    active: boolean,
    live: CertManagerStatus | undefined,
    now: Date,
  ): GatewayCertificate {
    const notBefore = live?.notBefore ?? record.notBefore;
    const notAfter = live?.notAfter ?? record.notAfter;
    const daysToExpiry =
      notAfter === undefined ? undefined : daysBetween(now, notAfter);
    const view: GatewayCertificate = {
      id: record.id,
      environment: record.environment,
      gateway: record.gateway,
      hosts: record.hosts,
      source: record.source,
      active,
      secretName: record.secretName,
      subject: record.subject,
      sans: record.sans,
      issuer: record.issuer,
      serial: record.serial,
      notBefore,
      notAfter,
      daysToExpiry,
      fingerprintSha256: record.fingerprintSha256,
      key: record.keyDescription,
      uploadedBy: record.uploadedBy,
      uploadedAt: record.uploadedAt,
      status: this.statusOf(record, live, daysToExpiry),
      ready:
        record.source === 'cert-manager' ? live?.ready ?? false : undefined,
      readyMessage: live?.message,
      warnings: record.warnings,
    };
    return Object.fromEntries(
      Object.entries(view).filter(([, value]) => value !== undefined),
    ) as unknown as GatewayCertificate;
  }

  private statusOf(
    record: CertificateRecord,
    live: CertManagerStatus | undefined,
    daysToExpiry: number | undefined,
  ): CertificateStatus {
    if (record.source === 'cert-manager' && live?.ready !== true) {
      return live?.ready === false && !live.issuing ? 'failed' : 'pending';
    }
    if (daysToExpiry === undefined) return 'pending';
    if (daysToExpiry < 0) return 'expired';
    if (daysToExpiry < this.options.settings.expiryWarningDays)
      return 'expiring';
    return 'ok';
  }
}

/** The gateway's Secret and cert-manager Certificate before a change; undefined when absent. */
interface OwnObjects {
  secret?: KubernetesObject;
  certificate?: KubernetesObject;
}

/** What of a live object a server-side apply puts back: no resourceVersion, status or server fields. */
function restorable(object: KubernetesObject): KubernetesObject {
  const { apiVersion, kind, metadata } = object;
  const { type, data, spec } = object as KubernetesObject & {
    type?: string;
    data?: Record<string, string>;
    spec?: unknown;
  };
  return {
    apiVersion,
    kind,
    metadata: {
      name: metadata?.name,
      namespace: metadata?.namespace,
      labels: metadata?.labels,
      annotations: metadata?.annotations,
    },
    ...(type !== undefined && { type }),
    ...(data !== undefined && { data }),
    ...(spec !== undefined && { spec }),
  } as KubernetesObject;
}

function isOurs(object: KubernetesObject): boolean {
  return object.metadata?.labels?.[LABEL_MANAGED_BY] === MANAGER;
}

/** Whole days from `now` to `iso` (negative once past). */
function daysBetween(now: Date, iso: string): number {
  return Math.floor((Date.parse(iso) - now.getTime()) / DAY_MS);
}

function uploadRecord(
  setup: GatewaySetup,
  validated: ValidatedCertificate,
  actor: string,
) {
  const m = validated.metadata;
  return {
    environment: setup.environment.name,
    gateway: `${setup.ref.namespace}/${setup.ref.name}`,
    source: 'upload' as const,
    secretName: setup.target.secretName,
    hosts: setup.target.hosts,
    subject: m.subject,
    sans: m.sans,
    issuer: m.issuer,
    serial: m.serialNumber,
    notBefore: m.validFrom,
    // The chain's earliest expiry: an intermediate expiring before the leaf
    // ends HTTPS then, so the card, the status and the expiry check use it.
    notAfter: m.chainValidTo,
    fingerprintSha256: m.fingerprintSha256,
    keyDescription: m.keyType === 'rsa' ? `rsa ${m.keyBits}` : `ec ${m.curve}`,
    warnings: validated.warnings,
    uploadedBy: actor,
  };
}

/**
 * Runs writes of a Secret; an error whose message quotes any of the Secret's
 * data (an API server echoing a value) is replaced by one that does not.
 */
async function withoutSecretValues<T>(
  secret: KubernetesObject,
  run: () => Promise<T>,
): Promise<T> {
  try {
    return await run();
  } catch (error) {
    const message = (error as Error)?.message ?? '';
    const values = Object.values(
      (secret as any).data as Record<string, string>,
    );
    const leaks = values.some(value => {
      for (let i = 0; i + 24 <= value.length; i += 12) {
        if (message.includes(value.slice(i, i + 24))) return true;
      }
      return false;
    });
    if (!leaks) throw error;
    throw new InputError(
      `The Kubernetes API server refused Secret "${secret.metadata?.name}"; its answer ` +
        'quoted the Secret data and is not shown. Check the Secret in the namespace with ' +
        'an administrator.',
    );
  }
}
