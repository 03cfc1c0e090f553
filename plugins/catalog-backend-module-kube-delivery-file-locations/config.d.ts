export interface Config {
  kubeDelivery?: {
    catalog?: {
      /**
       * Lets the catalog register `file` locations besides `url` ones, as
       * `kube-delivery:publish:local` (the offline publish step of the
       * Software Template) registers what it wrote. Default false: the
       * catalog's own default, `url` only. Whoever may create catalog
       * locations can then have the catalog read any YAML file the backend
       * can read, so switch it on only where templates publish without a Git
       * host (the local demo).
       */
      allowFileLocations?: boolean;
    };
  };
}
