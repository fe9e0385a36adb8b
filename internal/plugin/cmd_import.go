package plugin

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/partnerbilling/partner-account-operator/internal/partnerapi"
)

// userAgent is sent to the Partnership API by the plugin.
const userAgent = "kubectl-partneraccount"

func newImportCommand(o *Options) *cobra.Command {
	var (
		uidsFile, connection, secretNamespace string
		observe                               bool
		workers                               int
		api                                   partnerapi.Config
	)
	cmd := &cobra.Command{
		Use:   "import --uids FILE [--observe] [--connection NAME] [-n NAMESPACE]",
		Short: "Write a PartnerAccount manifest for each account UID of a file",
		Long: `Read each account UID of FILE (one a line; blank lines and # comments are
ignored; - reads stdin) from the Partnership API, with the operator's client and
flags, and write a YAML stream of PartnerAccounts on stdout, in the order of the
file: the account's UID, type, domain and end date, managementPolicy Observe
with --observe or adoptExisting true without it, and createPolicy Never: applying
the import never creates an account, should one go missing. Apply it with
kubectl apply -f.

With --connection NAME the accounts are read from the server of that
PartnerConnection, with its token and CA bundle (read from its Secrets in
--connection-secret-namespace, the operator's), and each PartnerAccount names it
in spec.connectionRef; the --partner-api-url, token and CA flags are not used.
Without it, the operator's default connection is read through those flags.

Each PartnerAccount is named after its UID. A UID that is not a valid resource
name as it is (upper case, longer than 253 characters, a leading or trailing . or
-) is lowered and gets a hash of the exact UID appended (CUST-0001 becomes
cust-0001-<8 hex digits>), as does a UID whose name is already taken in the
namespace or by an earlier UID of the file.

UIDs that a PartnerAccount in any namespace already names on the same connection
are skipped (on another connection the same UID is another contract's account); UIDs the
API does not know (404, 410) or could not be read fail. Both are named on stderr,
the others are still written, and a summary ends stderr. The exit status is 1 when
any UID failed, 130 when interrupted (the stream then holds the accounts read so
far, each document whole).

The accounts are read a few at a time (--workers), paced by the client's rate
limit (--partner-api-rps, --partner-api-burst): 10,000 UIDs take about 17 minutes
at the default 10 requests per second.`,
		Example: `  kubectl partneraccount import --uids uids.txt --observe -n billing \
    --partner-api-token-file ./partner-token > accounts.yaml
  kubectl partneraccount import --uids brand-b.txt --connection brand-b -n billing > brand-b.yaml
  kubectl apply -f accounts.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if uidsFile == "" {
				return errors.New("--uids is required: a file of account UIDs, one a line, or - for stdin")
			}
			api.UserAgent = userAgent
			c, ns, err := o.client()
			if err != nil {
				return err
			}
			if connection != "" {
				for _, f := range []string{partnerapi.FlagPartnerAPIURL, partnerapi.FlagPartnerAPITokenFile,
					partnerapi.FlagPartnerAPICAFile} {
					if cmd.Flags().Changed(f) {
						return fmt.Errorf("--%s cannot be used with --connection: the connection names its server", f)
					}
				}
				if api, err = ConnectionConfig(cmd.Context(), c, connection, secretNamespace, api); err != nil {
					return err
				}
			}
			apiClient, err := partnerapi.New(api)
			if err != nil {
				return fmt.Errorf("%w (see --%s, --%s, --%s, --%s)", err, partnerapi.FlagPartnerAPIURL,
					partnerapi.FlagPartnerAPITokenFile, partnerapi.FlagPartnerAPICAFile, partnerapi.FlagPartnerAPIAllowInsecureHTTP)
			}
			in, total, closeIn, err := openUIDs(uidsFile, o.In)
			if err != nil {
				return err
			}
			defer closeIn()

			managed, err := LoadManaged(cmd.Context(), c, ns, connection)
			if err != nil {
				return err
			}
			im := &Importer{
				API:        apiClient,
				Namespace:  ns,
				Connection: connection,
				Observe:    observe,
				Managed:    managed,
				Workers:    workers,
				Out:        o.Out,
				Progress:   stderrProgress(o.ErrOut, total, o.terminal),
			}
			sum := im.Run(cmd.Context(), NewUIDScanner(in))
			_, _ = fmt.Fprintln(o.ErrOut, sum)
			return sum.Err()
		},
	}
	cmd.Flags().StringVar(&uidsFile, "uids", "", "File of account UIDs, one a line (- for stdin).")
	cmd.Flags().BoolVar(&observe, "observe", false,
		"Write managementPolicy: Observe (the operator only reads the accounts); without it, adoptExisting: true.")
	cmd.Flags().IntVar(&workers, "workers", DefaultWorkers, "Accounts read at once.")
	cmd.Flags().StringVar(&connection, "connection", "",
		"PartnerConnection whose server the accounts are read from, and that the PartnerAccounts name in spec.connectionRef.")
	cmd.Flags().StringVar(&secretNamespace, "connection-secret-namespace", DefaultConnectionSecretNamespace,
		"Namespace of the --connection's token and CA Secrets: the operator's.")
	api.BindFlags(cmd.Flags())
	return cmd
}

// openUIDs opens the UID file name ("-": in) and returns it, the number of UIDs
// it holds when it is a regular file (-1 otherwise, for the progress bar), and
// what closes it.
func openUIDs(name string, in io.Reader) (io.Reader, int, func(), error) {
	if name == "-" {
		return in, -1, func() {}, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, 0, nil, err
	}
	total := -1
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		if n, err := CountUIDs(f); err == nil {
			total = n
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			_ = f.Close()
			return nil, 0, nil, err
		}
	}
	return f, total, func() { _ = f.Close() }, nil
}
