package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
)

// namespace holds the benchmark's PartnerAccounts.
const namespace = "bench"

// endsAt is every account's end date at creation; the backlog phase moves a few.
var endsAt = metav1.NewTime(time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC))

// accountName is the name, and the accountUID, of the i-th account.
func accountName(i int) string { return fmt.Sprintf("bench-%05d", i) }

// newAccount is the i-th account; with secretRef, its activation token goes to the
// Secret <name>-token.
func newAccount(i int, secretRef bool) *billingv1alpha1.PartnerAccount {
	pa := &billingv1alpha1.PartnerAccount{
		ObjectMeta: metav1.ObjectMeta{Name: accountName(i), Namespace: namespace},
		Spec: billingv1alpha1.PartnerAccountSpec{
			AccountUID:  accountName(i),
			AccountType: billingv1alpha1.AccountTypeIndividual,
			Domain:      "b5test.com",
			EndsAt:      endsAt.DeepCopy(),
		},
	}
	if secretRef {
		pa.Spec.ActivationTokenSecretRef = &billingv1alpha1.SecretReference{Name: accountName(i) + "-token"}
	}
	return pa
}

// createAccounts creates n accounts with workers creates in flight at once, and
// returns how many write requests it sent (retries included), to tell its own
// writes from the operator's in kube-apiserver's counts. With secretRefs, each
// names a token Secret (newAccount).
func createAccounts(ctx context.Context, c client.Client, n, workers int, secretRefs bool) (int, error) {
	var sent atomic.Int64
	err := parallel(ctx, n, workers, func(i int) error { return createOne(ctx, c, newAccount(i, secretRefs), &sent) })
	return int(sent.Load()), err
}

// parallel calls fn for 0 to n-1, workers at a time, and stops at the first error.
func parallel(ctx context.Context, n, workers int, fn func(i int) error) error {
	next := make(chan int)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				if err := fn(i); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	var err error
feed:
	for i := range n {
		select {
		case next <- i:
		case err = <-errs:
			break feed
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(next)
	wg.Wait()
	close(errs)
	for e := range errs {
		err = errors.Join(err, e)
	}
	return err
}

// createOne creates pa, trying up to three times: with the apiserver on the same
// two cores as everything else, a request may time out.
func createOne(ctx context.Context, c client.Client, pa *billingv1alpha1.PartnerAccount, sent *atomic.Int64) error {
	var err error
	for attempt := range 3 {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt) * time.Second)
		}
		sent.Add(1)
		err = c.Create(ctx, pa.DeepCopy())
		if err == nil || (attempt > 0 && apierrors.IsAlreadyExists(err)) {
			return nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("create %s: %w", pa.Name, err)
}
