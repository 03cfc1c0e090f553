import { useRef, useState, type ChangeEvent } from 'react';
import { useApi } from '@backstage/core-plugin-api';
import Box from '@material-ui/core/Box';
import Button from '@material-ui/core/Button';
import FormControlLabel from '@material-ui/core/FormControlLabel';
import Radio from '@material-ui/core/Radio';
import RadioGroup from '@material-ui/core/RadioGroup';
import TextField from '@material-ui/core/TextField';
import Typography from '@material-ui/core/Typography';
import type {
  CertificateUpload,
  CertificateChange,
} from '@internal/plugin-kube-delivery-common';
import { kubeDeliveryApiRef } from '../../api';
import { FormDialog } from '../common/FormDialog';
import { reasonOf } from '../common/format';

/** The backend refuses larger fields; saying so here saves a round trip. */
const MAX_FIELD_BYTES = 64 * 1024;

type Format = CertificateUpload['format'];

/** A file's bytes as base64, for the PKCS#12 upload. */
async function fileAsBase64(file: File): Promise<string> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** A keyboard-operable button that opens a file picker and hands over the chosen file. */
function FilePicker(props: {
  label: string;
  accept: string;
  onFile: (file: File) => void;
}) {
  const input = useRef<HTMLInputElement>(null);
  return (
    <Box mt={1}>
      <input
        ref={input}
        type="file"
        accept={props.accept}
        hidden
        aria-label={props.label}
        onChange={(e: ChangeEvent<HTMLInputElement>) => {
          const file = e.target.files?.[0];
          if (file) props.onFile(file);
          e.target.value = '';
        }}
      />
      <Button
        size="small"
        variant="outlined"
        onClick={() => input.current?.click()}
      >
        {props.label}
      </Button>
    </Box>
  );
}

/**
 * Uploads a certificate for an environment's gateway: a PEM chain and key
 * (pasted or read from files) or a PKCS#12 file and its password. The key
 * stays in this dialog's state only until it is sent or the dialog closes.
 */

/** A monospace text area for PEM text; a secret one is not autocompleted. */
function PemField(props: {
  id: string;
  label: string;
  value: string;
  onChange: (value: string) => void;
  secret?: boolean;
}) {
  return (
    <TextField
      id={props.id}
      label={props.label}
      multiline
      minRows={4}
      maxRows={10}
      fullWidth
      variant="outlined"
      margin="normal"
      value={props.value}
      onChange={e => props.onChange(e.target.value)}
      inputProps={{
        spellCheck: false,
        ...(props.secret && { autoComplete: 'off' }),
        style: { fontFamily: 'monospace' },
      }}
    />
  );
}

export function CertificateUploadDialog(props: {
  open: boolean;
  environment: string;
  hosts: string[];
  onClose: () => void;
  onUploaded: (response: CertificateChange) => void;
}) {
  const { open, environment, hosts, onClose, onUploaded } = props;
  const api = useApi(kubeDeliveryApiRef);
  const [format, setFormat] = useState<Format>('pem');
  const [certificateChain, setCertificateChain] = useState('');
  const [privateKey, setPrivateKey] = useState('');
  const [pkcs12, setPkcs12] = useState<{ name: string; base64: string }>();
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();

  const reset = () => {
    setCertificateChain('');
    setPrivateKey('');
    setPkcs12(undefined);
    setPassword('');
    setError(undefined);
  };
  const close = () => {
    reset();
    onClose();
  };

  const readText = (set: (text: string) => void) => async (file: File) => {
    if (file.size > MAX_FIELD_BYTES) {
      setError(
        `${file.name} is larger than 64 KiB; choose the PEM file itself.`,
      );
      return;
    }
    set(await file.text());
  };

  const ready =
    format === 'pem'
      ? certificateChain.trim() !== '' && privateKey.trim() !== ''
      : pkcs12 !== undefined;

  const submit = async () => {
    const request: CertificateUpload =
      format === 'pem'
        ? { format, certificateChain, privateKey }
        : { format, pkcs12: pkcs12!.base64, password };
    setBusy(true);
    setError(undefined);
    try {
      const response = await api.uploadCertificate(environment, request);
      reset();
      onUploaded(response);
    } catch (e) {
      setError(reasonOf(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <FormDialog
      open={open}
      titleId={`kd-upload-${environment}-title`}
      title={`Upload certificate for ${environment}`}
      error={error}
      submitLabel="Upload"
      submitAriaLabel={`Upload the certificate to ${environment}`}
      submitDisabled={!ready || busy}
      onSubmit={submit}
      onClose={close}
      maxWidth="md"
    >
      <Typography variant="body2" gutterBottom>
        The certificate must be valid now, its key must match, and its SANs must
        cover {hosts.join(', ') || "the gateway's hosts"}. The private key goes
        to the cluster only, never to the database or the logs.
      </Typography>
      <RadioGroup
        row
        aria-label="Certificate format"
        value={format}
        onChange={e => setFormat(e.target.value as Format)}
      >
        <FormControlLabel value="pem" control={<Radio />} label="PEM" />
        <FormControlLabel value="pkcs12" control={<Radio />} label="PKCS#12" />
      </RadioGroup>
      {format === 'pem' ? (
        <>
          <PemField
            id={`kd-cert-chain-${environment}`}
            label="Certificate chain (PEM, leaf first)"
            value={certificateChain}
            onChange={setCertificateChain}
          />
          <FilePicker
            label="Choose certificate file"
            accept=".pem,.crt,.cer"
            onFile={readText(setCertificateChain)}
          />
          <PemField
            id={`kd-cert-key-${environment}`}
            label="Private key (PEM)"
            value={privateKey}
            onChange={setPrivateKey}
            secret
          />
          <FilePicker
            label="Choose key file"
            accept=".pem,.key"
            onFile={readText(setPrivateKey)}
          />
        </>
      ) : (
        <>
          <FilePicker
            label="Choose PKCS#12 file"
            accept=".p12,.pfx"
            onFile={async file => {
              if (file.size > MAX_FIELD_BYTES) {
                setError(`${file.name} is larger than 64 KiB.`);
                return;
              }
              setPkcs12({
                name: file.name,
                base64: await fileAsBase64(file),
              });
            }}
          />
          <Typography variant="body2">
            {pkcs12 ? `Chosen: ${pkcs12.name}` : 'No file chosen.'}
          </Typography>
          <TextField
            id={`kd-p12-password-${environment}`}
            label="PKCS#12 password"
            type="password"
            fullWidth
            margin="normal"
            value={password}
            onChange={e => setPassword(e.target.value)}
            inputProps={{ autoComplete: 'off' }}
          />
        </>
      )}
    </FormDialog>
  );
}
