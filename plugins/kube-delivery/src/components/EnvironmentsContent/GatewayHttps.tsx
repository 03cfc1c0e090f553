import { useState, type ReactNode } from 'react';
import { useApi } from '@backstage/core-plugin-api';
import { ResponseError } from '@backstage/errors';
import Box from '@material-ui/core/Box';
import Button from '@material-ui/core/Button';
import Chip from '@material-ui/core/Chip';
import Typography from '@material-ui/core/Typography';
import { makeStyles } from '@material-ui/core/styles';
import Alert from '@material-ui/lab/Alert';
import type {
  CertificateStatus,
  Environment,
  GatewayCertificate,
} from '@internal/plugin-kube-delivery-common';
import { kubeDeliveryApiRef } from '../../api';
import { useLoad } from '../../hooks/usePolledAsync';
import { reasonOf } from '../common/format';
import { CertificateUploadDialog } from './CertificateUploadDialog';

const useStyles = makeStyles(theme => ({
  ok: { backgroundColor: theme.palette.success.main, color: '#fff' },
  warning: { backgroundColor: theme.palette.warning.main, color: '#000' },
  error: { backgroundColor: theme.palette.error.main, color: '#fff' },
  info: {},
}));

/** One term and its value in a description list, on one line. */
function Fact(props: { term: string; children: ReactNode }) {
  return (
    <>
      <Box component="dt" display="inline" fontWeight="bold">
        {props.term}
      </Box>{' '}
      <dd style={{ display: 'inline', margin: 0 }}>{props.children}</dd>
    </>
  );
}

const SEVERITY: Record<CertificateStatus, 'ok' | 'warning' | 'error' | 'info'> =
  {
    ok: 'ok',
    expiring: 'warning',
    expired: 'error',
    failed: 'error',
    pending: 'info',
  };

function expiryWords(certificate: GatewayCertificate): string {
  if (certificate.status === 'pending') return 'waiting for cert-manager';
  if (certificate.status === 'failed') return 'cert-manager failed to issue it';
  const days = certificate.daysToExpiry;
  if (days === undefined) return certificate.status;
  if (days < 0) return `expired ${-days} day${days === -1 ? '' : 's'} ago`;
  return `${days} day${days === 1 ? '' : 's'} to expiry`;
}

/** The gateway's HTTPS state in an environment, and the certificate upload. */
export function GatewayHttps(props: {
  environment: string;
  gateway: NonNullable<Environment['gateway']>;
  canUpload: boolean;
}) {
  const { environment: name, gateway, canUpload } = props;
  const classes = useStyles();
  const api = useApi(kubeDeliveryApiRef);
  const [uploading, setUploading] = useState(false);
  const [notice, setNotice] = useState<{
    severity: 'success' | 'error';
    message: string;
  }>();
  const [switching, setSwitching] = useState(false);
  const { value, error, loading, retry } = useLoad(
    () => api.listCertificates(name),
    [api, name],
  );
  const active = value?.items.find(c => c.active);
  const hosts = value?.gateway.hosts ?? gateway.hosts;
  // Offered only where the environment configures an issuer, and not while
  // cert-manager already issues the certificate.
  const issuer =
    active?.source === 'cert-manager'
      ? undefined
      : value?.gateway.certManagerIssuer;
  const switchToCertManager = async () => {
    setSwitching(true);
    setNotice(undefined);
    try {
      const response = await api.useCertManager(name);
      setNotice({
        severity: 'success',
        message: [
          `cert-manager now issues the certificate for ${hosts.join(', ')}.`,
          ...response.warnings,
        ].join(' '),
      });
      retry();
    } catch (e) {
      setNotice({ severity: 'error', message: reasonOf(e) });
    } finally {
      setSwitching(false);
    }
  };
  let body: JSX.Element;
  if (loading) {
    body = (
      <Typography variant="body2" color="textSecondary">
        Reading the gateway's certificate…
      </Typography>
    );
  } else if (error) {
    body = (
      <Alert severity="warning">
        {ResponseError.is(error) && error.response.status === 404
          ? 'The backend does not serve certificates for this environment yet; ask your platform team to configure its gateway.'
          : `The certificate could not be read: ${reasonOf(
              error,
            )}. Try again later.`}
      </Alert>
    );
  } else if (!active) {
    // Not set up yet is a state, not a fault: said once, with the next step.
    let next = 'Ask your platform team to upload one.';
    if (canUpload) {
      next = issuer
        ? `Upload one (PEM or PKCS#12), or let cert-manager issue it (${issuer.kind}/${issuer.name}).`
        : 'Upload one (PEM or PKCS#12).';
    }
    body = (
      <Alert severity="info" data-testid="no-certificate">
        No certificate yet: the gateway serves no HTTPS for these hosts. {next}
      </Alert>
    );
  } else {
    const severity = SEVERITY[active.status];
    body = (
      <Box>
        <Chip
          size="small"
          className={classes[severity]}
          label={expiryWords(active)}
          aria-label={`Certificate of ${name}: ${expiryWords(active)}`}
        />
        <Typography variant="body2" component="dl">
          <Fact term="Subject:">{active.subject ?? 'not issued yet'}</Fact>
          <br />
          <Fact term="SANs:">{active.sans.join(', ') || 'none'}</Fact>
          <br />
          <Fact term="Issuer:">{active.issuer ?? 'unknown'}</Fact>
          {active.notAfter && (
            <>
              <br />
              <Fact term="Expires:">
                {new Date(active.notAfter).toUTCString()}
              </Fact>
            </>
          )}
        </Typography>
        {active.status === 'expiring' && (
          <Alert severity="warning">
            Expires soon: upload a renewed certificate before{' '}
            {active.notAfter && new Date(active.notAfter).toDateString()}.
          </Alert>
        )}
        {active.status === 'expired' && (
          <Alert severity="error">
            Expired: browsers refuse this site. Upload a valid certificate now.
          </Alert>
        )}
        {active.readyMessage && active.status !== 'ok' && (
          <Alert severity="info">{active.readyMessage}</Alert>
        )}
      </Box>
    );
  }

  return (
    <Box mt={2} component="section" aria-label={`HTTPS of ${name}`}>
      <Typography variant="subtitle2" component="h3">
        HTTPS · {gateway.namespace}/{gateway.name}
      </Typography>
      <Typography variant="body2" color="textSecondary">
        Hosts: {hosts.join(', ') || 'none configured'}
      </Typography>
      {value?.gateway.serving === false && active && (
        <Alert severity="error">
          The gateway does not serve HTTPS for these hosts:{' '}
          {value.gateway.servingMessage ??
            'ask your platform team to check it.'}
        </Alert>
      )}
      {body}
      {notice && (
        <Box mt={1}>
          <Alert
            severity={notice.severity}
            onClose={() => setNotice(undefined)}
          >
            {notice.message}
          </Alert>
        </Box>
      )}
      {canUpload && (
        <Box mt={1}>
          <Button
            variant="outlined"
            size="small"
            onClick={() => setUploading(true)}
            aria-label={`Upload certificate for ${name}`}
          >
            Upload certificate
          </Button>
          {issuer && (
            <Button
              variant="outlined"
              size="small"
              style={{ marginLeft: 8 }}
              disabled={switching}
              onClick={switchToCertManager}
              aria-label={`Use cert-manager for ${name}`}
            >
              Use cert-manager ({issuer.kind}/{issuer.name})
            </Button>
          )}
          <CertificateUploadDialog
            open={uploading}
            environment={name}
            hosts={hosts}
            onClose={() => setUploading(false)}
            onUploaded={response => {
              setUploading(false);
              setNotice({
                severity: 'success',
                message: [
                  `Certificate for ${response.certificate.sans.join(
                    ', ',
                  )} installed on the gateway.`,
                  ...response.warnings,
                ].join(' '),
              });
              retry();
            }}
          />
        </Box>
      )}
    </Box>
  );
}
