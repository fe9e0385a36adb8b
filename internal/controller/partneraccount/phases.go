package partneraccount

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	billingv1alpha1 "github.com/partnerbilling/partner-account-operator/api/v1alpha1"
	"github.com/partnerbilling/partner-account-operator/internal/connection"
	"github.com/partnerbilling/partner-account-operator/internal/controller"
	"github.com/partnerbilling/partner-account-operator/internal/partnerapi"
)

// reconcileNormal runs the steps of a reconcile of a PartnerAccount that is not
// being deleted: the account step, then the token step. Each fills in s; finish
// writes the status.
func (r *Reconciler) reconcileNormal(ctx context.Context, s *scope) error {
	if err := r.reconcileAccount(ctx, s); err != nil || s.outcome.reason == "" {
		return err
	}
	return r.placeToken(ctx, s)
}

// reconcileAccount brings the remote account in line with the spec, as far as this
// resource may: not while suspended, not when another PartnerAccount on its
// connection holds the accountUID, and not again while a stalled spec is unchanged.
func (r *Reconciler) reconcileAccount(ctx context.Context, s *scope) error {
	pa := s.pa
	if pa.Spec.Suspend {
		s.conclude(suspendedOutcome())
		return nil
	}
	if ok, err := r.useConnection(ctx, s); err != nil || !ok {
		return err
	}
	if observing(pa) {
		return r.observeAccount(ctx, s)
	}
	owner, err := r.owner(ctx, pa)
	if err != nil {
		return err
	}
	if owner != pa {
		s.disown()
		s.conclude(duplicateOutcome(owner, pa.Spec.AccountUID))
		return nil
	}
	// The finalizer is in place before the first remote call.
	if err := controller.SetFinalizer(ctx, r.Client, pa, billingv1alpha1.Finalizer, true); err != nil {
		return err
	}
	switch planFor(pa, readyReason(s.previous), s.request != "", r.Options.Now()) {
	case planCreate:
		return r.createNew(ctx, s)
	case planReadFirst:
		return r.readFirst(ctx, s, false)
	case planRead:
		r.sync(ctx, s)
	}
	return nil
}

// probeWait is how soon a resource waiting for its connection's create probe
// looks again.
const probeWait = 200 * time.Millisecond

// createNew creates the account of a resource that never made one, as its
// connection's create mode says: at once (one call), or after a read that proves
// it absent, on a connection whose server holds accounts this cluster's resources
// declare but did not make (a cluster rebuilt from Git), so that none of them sends
// a create. See connection.CreateMode.
func (r *Reconciler) createNew(ctx context.Context, s *scope) error {
	switch s.conn.CreateMode(r.Connections.KnownAccounts(s.conn.Name())) {
	case connection.WaitForProbe:
		s.lookAgain(probeWait)
		return nil
	case connection.ProbeFirst:
		return r.readFirst(ctx, s, true)
	case connection.ReadFirst:
		return r.readFirst(ctx, s, false)
	}
	return r.create(ctx, s, nil)
}

// margins are the claim margins the options set.
func (r *Reconciler) margins() claimMargins {
	return claimMargins{api: r.Options.APIClockMargin, local: r.Options.CreateClockSkew}
}

// create creates the remote account under claim, the attempts of the resource
// whose outcome is unknown (nil: none). Each attempt is written to the status just
// before its request goes out, so that a restart at any moment finds it. When the
// API refuses, because the account exists or on the request's merits, the account
// is read back to tell which: never is a create repeated in a loop.
func (r *Reconciler) create(ctx context.Context, s *scope, claim *billingv1alpha1.CreateClaim) error {
	pa := s.pa
	if err := s.conn.API.Blocked(partnerapi.OpCreate, pa.Spec.AccountUID); err != nil {
		// Nothing would be sent: no attempt.
		s.conclude(errorOutcome("create the account", err))
		return nil
	}
	var attempt billingv1alpha1.CreateAttempt
	var sent time.Time
	record := func(origin partnerapi.Origin) error {
		now, onAPI := s.conn.API.Now()
		clock := billingv1alpha1.ClockLocal
		if onAPI {
			clock, claim = billingv1alpha1.ClockAPI, onAPIClock(s.conn, claim)
		}
		attempt = newAttempt(now, s.conn.API.Timeout())
		claim = withAttempt(claim, attempt, clock, origin)
		sent = time.Now()
		return s.writeClaim(ctx, claim)
	}
	acct, createErr := s.conn.API.Create(partnerapi.BeforeSend(ctx, record), partnerapi.CreateRequest{
		UID:    pa.Spec.AccountUID,
		Type:   apiAccountType(pa.Spec.AccountType),
		Domain: pa.Spec.Domain,
		EndsAt: timePtr(pa.Spec.EndsAt),
	})
	if sent.IsZero() {
		// Not sent: no attempt.
		if _, apiErr := errors.AsType[*partnerapi.Error](createErr); !apiErr {
			return createErr // the attempt could not be recorded
		}
		s.conclude(errorOutcome("create the account", createErr))
		return nil
	}
	if claim.Clock == billingv1alpha1.ClockLocal {
		if moved := onAPIClock(s.conn, claim); moved != claim {
			// The answer told the API's clock: the attempt moves with the claim.
			attempt, claim = moved.Attempts[len(moved.Attempts)-1], moved
		}
	}
	s.setClaim(claim)
	switch {
	case createErr == nil:
		var sentOnAPI time.Time
		if _, known := s.conn.API.Now(); known {
			sentOnAPI = sentAt(s.conn, sent, billingv1alpha1.ClockAPI)
		}
		s.observe(acct)
		r.Connections.Answered(acct, partnerapi.Origin{}, false)
		r.found(ctx, s, classifyCreated(&pa.Spec, claim, acct, sentOnAPI, r.margins()), true)
		return nil
	case unknownOutcome(createErr):
		// It may have made the account: its attempt stays, as written.
		s.conclude(errorOutcome("create the account", createErr))
		return nil
	}
	// Refused: this attempt made nothing.
	claim = withoutAttempt(claim, attempt)
	s.setClaim(claim)
	if !errors.Is(createErr, partnerapi.ErrAlreadyExists) && !errors.Is(createErr, partnerapi.ErrInvalidRequest) {
		// Refused before it was looked at (401, 403, 429).
		s.conclude(errorOutcome("create the account", createErr))
		return nil
	}
	r.afterRefusedCreate(ctx, s, claim, createErr)
	return nil
}

// afterRefusedCreate reads the account after the API refused a create with one of
// its own 4xx answers: an account found is classified by the claim, a proven
// absence means the refusal was on the request's merits.
func (r *Reconciler) afterRefusedCreate(ctx context.Context, s *scope, claim *billingv1alpha1.CreateClaim,
	createErr error) {
	pa := s.pa
	uid := pa.Spec.AccountUID
	acct, err := s.conn.API.Get(ctx, uid)
	if err == nil {
		s.observe(acct)
		r.Connections.Answered(acct, partnerapi.Origin{}, false)
		r.found(ctx, s, classifyRead(&pa.Spec, claim, acct, r.margins()), false)
		return
	}
	if partnerapi.Gone(err) {
		s.conclude(deactivatedOutcome(uid))
		return
	}
	refused := refusedCreateOutcome(pa.Spec.Domain, createErr)
	switch r.absence(ctx, s, err, partnerapi.Origin{}) {
	case absentProven:
		s.setClaim(withoutSettled(claim, apiNow(s.conn), r.margins()))
		s.conclude(refused)
	case absentUnproven:
		if connection.StatusOf(createErr) == http.StatusNotFound {
			// The domain may have no promotion, or the URL is not the API.
			s.conclude(createRefusedUnprovenOutcome(pa.Spec.Domain, createErr))
			return
		}
		s.conclude(refused)
	default:
		if errors.Is(err, partnerapi.ErrInvalidRequest) {
			// The API refuses the UID itself, on read as on create.
			s.conclude(refused)
			return
		}
		s.conclude(readErrorOutcome("read back the account after a refused create", err))
	}
}

// readFirst reads the account before deciding to create it: an earlier attempt may
// have made it without the answer arriving, an account was found before, one is to
// be adopted, or the resource never creates. A 410 means an account under the UID
// was deactivated: none is ever created again. When probe is set, what it finds
// decides how the connection's other new resources create theirs.
func (r *Reconciler) readFirst(ctx context.Context, s *scope, probe bool) error {
	pa := s.pa
	uid := pa.Spec.AccountUID
	claim := currentClaim(&pa.Status, r.Options.Now())
	attempted := claimOrigin(claim)
	preexisting, absent := false, false
	if probe {
		defer func() { s.conn.ProbeDone(preexisting, absent) }()
	}
	acct, err := s.conn.API.Get(ctx, uid)
	// The answer may be the first to tell the API's clock.
	claim = onAPIClock(s.conn, claim)
	if err == nil {
		if mayHaveMadeAny(claim) && !r.answerHolds(ctx, s, acct, attempted, false) {
			// Its attempts went to another origin: what this one holds says nothing
			// of what they made.
			s.conclude(endpointChangedOutcome("read the account", uid, attempted, acct.Origin))
			return nil
		}
		r.Connections.Answered(acct, partnerapi.Origin{}, false)
		if claim != nil {
			s.setClaim(claim)
		}
		s.observe(acct)
		f := classifyRead(&pa.Spec, claim, acct, r.margins())
		preexisting = f != foundOwn
		r.found(ctx, s, f, false)
		return nil
	}
	if partnerapi.Gone(err) {
		preexisting = true
		s.conclude(deactivatedOutcome(uid))
		return nil
	}
	a := r.absence(ctx, s, err, attempted)
	switch {
	case a == absentElsewhere:
		answered, _ := partnerapi.OriginOf(err)
		s.conclude(endpointChangedOutcome("read the account", uid, attempted, answered))
		return nil
	case a == notAbsent:
		s.conclude(readErrorOutcome("read the account", err))
		return nil
	case neverCreates(pa) && a == absentProven:
		s.conclude(accountMissingOutcome(uid))
		return nil
	case neverCreates(pa):
		s.conclude(unprovenOutcome("read the account", err))
		return nil
	}
	absent = true
	if a == absentProven {
		// No account has this UID: the attempts whose answer can no longer come made
		// nothing; one whose answer may still come stays, its account may land.
		claim = withoutSettled(claim, apiNow(s.conn), r.margins())
	}
	// Creating is safe whatever the truth behind an unproven 404: if the account
	// exists, the API refuses, and the claim is kept.
	return r.create(ctx, s, claim)
}

// found acts on the account just observed under the resource's accountUID, by its
// create (created is true) or by a read: it becomes the resource's own when the
// resource made it, or adopts it when it existed before and spec.adoptExisting
// says so. Anything else is left alone and nothing of it is kept.
func (r *Reconciler) found(ctx context.Context, s *scope, f finding, created bool) {
	pa, acct := s.pa, s.account
	uid := pa.Spec.AccountUID
	switch {
	case f == foundConflict:
		s.disown()
		s.conclude(conflictOutcome(uid, acct))
		return
	case f == foundPreexisting && !pa.Spec.AdoptExisting:
		s.disown()
		s.conclude(existsOutcome(uid, acct))
		return
	}

	log := logf.FromContext(ctx).WithValues("accountUID", uid)
	switch {
	case f == foundPreexisting:
		remoteChanges.WithLabelValues(changeAdopt).Inc()
		log.Info("Adopted existing remote account")
		r.Recorder.Eventf(pa, nil, corev1.EventTypeNormal, billingv1alpha1.EventAdopted, "Adopt",
			"Adopted remote account %q, which existed before this resource (spec.adoptExisting is true)", uid)
	case created:
		remoteChanges.WithLabelValues(changeCreate).Inc()
		log.Info("Created remote account")
		r.Recorder.Eventf(pa, nil, corev1.EventTypeNormal, billingv1alpha1.EventCreated, "Create",
			"Created remote account %q", uid)
	default:
		remoteChanges.WithLabelValues(changeCreate).Inc()
		log.Info("Recovered remote account created by an earlier attempt")
		r.Recorder.Eventf(pa, nil, corev1.EventTypeNormal, billingv1alpha1.EventRecovered, "Create",
			"Remote account %q was created by this resource's earlier attempt, whose answer was lost", uid)
	}
	s.take()
	r.alignEndsAt(ctx, s, createdAtOf(acct))
}

// sync reads an account the resource owns, checks that it is still the one it
// owns, and aligns its end date with the spec. An answer from another origin than
// the account's own shows the account there, or proves nothing about it.
func (r *Reconciler) sync(ctx context.Context, s *scope) {
	pa := s.pa
	uid := pa.Spec.AccountUID
	recorded := recordedOrigin(pa)
	acct, err := s.conn.API.Get(ctx, uid)
	if err != nil {
		r.readFailed(ctx, s, "read the account", err)
		return
	}
	change := identityChange(&pa.Spec, pa.Status.CreatedAt, acct)
	if !r.answerHolds(ctx, s, acct, recorded, sameAccount(pa.Status.CreatedAt, acct, change)) {
		s.conclude(endpointChangedOutcome("read the account", uid, recorded, acct.Origin))
		return
	}
	if change != "" {
		s.disown()
		s.conclude(replacedOutcome(uid, change))
		return
	}
	s.observe(acct)
	r.alignEndsAt(ctx, s, pa.Status.CreatedAt)
}

// sameAccount reports whether acct is, beyond doubt, the account created at
// createdAt that a resource owns: it has no identity change, and both creation
// times are known. Only such an answer proves that another origin holds the
// accounts of the one the account lived at: another partner's account under the
// same UID differs in its creation time.
func sameAccount(createdAt *metav1.Time, acct *partnerapi.Account, change string) bool {
	return change == "" && createdAt != nil && !acct.CreatedAt.IsZero()
}

// readFailed concludes a failed call about an account the resource owns: gone only
// when where it lived, or an origin that holds its accounts, proves it.
func (r *Reconciler) readFailed(ctx context.Context, s *scope, op string, err error) {
	recorded := recordedOrigin(s.pa)
	switch r.absence(ctx, s, err, recorded) {
	case absentProven:
		s.gone = true
		s.conclude(remoteDeletedOutcome(s.pa.Spec.AccountUID))
	case absentUnproven:
		s.conclude(unprovenOutcome(op, err))
	case absentElsewhere:
		answered, _ := partnerapi.OriginOf(err)
		s.conclude(endpointChangedOutcome(op, s.pa.Spec.AccountUID, recorded, answered))
	default:
		s.conclude(readErrorOutcome(op, err))
	}
}

// alignEndsAt changes the remote end date of the account just observed when it
// differs from the spec's at one-second precision, and only then. The answer must
// be the same account (created at createdAt, when known) with the end date asked
// for. Ended is judged on the API's clock.
func (r *Reconciler) alignEndsAt(ctx context.Context, s *scope, createdAt *metav1.Time) {
	pa, acct := s.pa, s.account
	uid := pa.Spec.AccountUID
	if !endsAtDiffers(pa.Spec.EndsAt, acct.EndsAt) {
		s.conclude(accountOutcome(acct, apiNow(s.conn)))
		return
	}
	updated, err := s.conn.API.UpdateEndsAt(ctx, uid, timePtr(pa.Spec.EndsAt))
	if err != nil {
		if errors.Is(err, partnerapi.ErrNotFound) {
			r.readFailed(ctx, s, "change the end date", err)
			return
		}
		s.conclude(errorOutcome("change the end date", err))
		return
	}
	if change := identityChange(&pa.Spec, createdAt, updated); change != "" {
		s.disown()
		s.conclude(replacedOutcome(uid, change))
		return
	}
	s.observe(updated)
	if endsAtDiffers(pa.Spec.EndsAt, updated.EndsAt) {
		s.conclude(endsAtNotAppliedOutcome(pa.Spec.EndsAt, updated.EndsAt))
		return
	}
	remoteChanges.WithLabelValues(changeUpdateEndsAt).Inc()
	logf.FromContext(ctx).Info("Changed remote end date", "accountUID", uid, "endsAt", pa.Spec.EndsAt)
	r.Recorder.Eventf(pa, nil, corev1.EventTypeNormal, billingv1alpha1.EventUpdated, "Update",
		"Changed the end date of remote account %q to %s", uid, describeEndsAt(pa.Spec.EndsAt))
	s.conclude(accountOutcome(updated, apiNow(s.conn)))
}

// reconcileDelete deals with the remote account of a PartnerAccount being deleted,
// then lets the resource go. While it cannot, the finalizer stays and the
// conditions say why.
func (r *Reconciler) reconcileDelete(ctx context.Context, s *scope) error {
	pa := s.pa
	if !controllerutil.ContainsFinalizer(pa, billingv1alpha1.Finalizer) {
		return nil
	}
	released, err := r.releaseRemote(ctx, s)
	if err != nil || !released {
		return err
	}
	return controller.SetFinalizer(ctx, r.Client, pa, billingv1alpha1.Finalizer, false)
}

// releaseRemote deletes the remote account when the policy says so and the
// resource owns it. It reports whether the resource may go; when not, s's outcome
// says why.
func (r *Reconciler) releaseRemote(ctx context.Context, s *scope) (bool, error) {
	pa := s.pa
	uid := pa.Spec.AccountUID
	switch {
	case pa.Spec.Suspend:
		r.orphaned(pa, fmt.Sprintf("spec.suspend is true: remote account %q was left as it is", uid))
		return true, nil
	case observing(pa):
		r.orphaned(pa, fmt.Sprintf("spec.managementPolicy is Observe: remote account %q was left as it is", uid))
		return true, nil
	case deletionPolicyOf(pa, r.Options.DefaultDeletionPolicy) == billingv1alpha1.DeletionPolicyOrphan:
		why := "spec.deletionPolicy is Orphan"
		if pa.Spec.DeletionPolicy == "" {
			why = "the operator's default deletion policy is Orphan"
		}
		r.orphaned(pa, fmt.Sprintf("%s: remote account %q was left as it is", why, uid))
		return true, nil
	}
	uninstalling, err := r.uninstalling(ctx, pa)
	if err != nil {
		return false, err
	}
	if uninstalling {
		r.Recorder.Eventf(pa, nil, corev1.EventTypeWarning, billingv1alpha1.EventOrphanedByUninstall, "Delete",
			"The PartnerAccount CustomResourceDefinition is being deleted, so remote account %q was left as it is "+
				"whatever spec.deletionPolicy says: uninstalling never deactivates accounts. To deactivate accounts, "+
				"delete their PartnerAccounts before the CRD", uid)
		return true, nil
	}
	if !owns(pa) && !mayHaveMadeAny(currentClaim(&pa.Status, r.Options.Now())) {
		// Nothing to ask any connection about, even one that is gone.
		r.orphaned(pa, fmt.Sprintf("This resource did not own remote account %q, so nothing was deleted remotely", uid))
		return true, nil
	}
	if ok, err := r.useConnection(ctx, s); err != nil || !ok {
		if s.outcome.reason != "" {
			s.conclude(deleteBlocked(s.outcome))
		}
		return false, err
	}
	where := deletionOrigin(pa, r.Options.Now())
	mine, err := r.mayDelete(ctx, s, where)
	if err != nil || !mine {
		return s.outcome.reason == "", err
	}
	err = s.conn.API.Delete(ctx, uid)
	if err == nil {
		remoteChanges.WithLabelValues(changeDelete).Inc()
		logf.FromContext(ctx).Info("Deleted remote account", "accountUID", uid)
		r.Recorder.Eventf(pa, nil, corev1.EventTypeNormal, billingv1alpha1.EventDeleted, "Delete",
			"Deactivated remote account %q", uid)
		return true, nil
	}
	if r.absentBeforeDeletion(ctx, s, "delete the account", err, where) {
		return true, nil
	}
	return false, nil
}

// deletionOrigin is where the account of pa, being deleted, is to be found: where
// it was last answered when pa owns it, else where its create attempts went.
func deletionOrigin(pa *billingv1alpha1.PartnerAccount, now time.Time) partnerapi.Origin {
	if owns(pa) {
		return recordedOrigin(pa)
	}
	return claimOrigin(currentClaim(&pa.Status, now))
}

// absentBeforeDeletion concludes a failed call about the account of a resource
// being deleted, which lives at where: it reports true when the account is proven
// gone there, and otherwise says in s's outcome why the finalizer stays.
func (r *Reconciler) absentBeforeDeletion(ctx context.Context, s *scope, op string, err error,
	where partnerapi.Origin) bool {
	switch r.absence(ctx, s, err, where) {
	case absentProven:
		r.alreadyGone(ctx, s.pa)
		return true
	case absentUnproven:
		s.conclude(deleteBlocked(unprovenOutcome(op, err)))
	case absentElsewhere:
		answered, _ := partnerapi.OriginOf(err)
		s.conclude(deleteBlocked(endpointChangedOutcome(op, s.pa.Spec.AccountUID, where, answered)))
	default:
		s.conclude(deleteBlocked(readErrorOutcome(op, err)))
	}
	return false
}

// mayDelete reports whether deleting s's resource may delete its remote account,
// which lives at where; false with no outcome in s when it is gone already. It may
// delete it when it owns it, no older PartnerAccount on its connection holds
// it, and a read shows it is still the account it owns; or its create was never
// confirmed and the read shows that one of its attempts made the account. Whatever
// else it finds, it records why nothing is deleted. When the read fails or answers
// from another origin, s's outcome says why nothing can be decided yet.
func (r *Reconciler) mayDelete(ctx context.Context, s *scope, where partnerapi.Origin) (bool, error) {
	pa := s.pa
	uid := pa.Spec.AccountUID
	if owns(pa) {
		owner, err := r.owner(ctx, pa)
		if err != nil || owner != pa {
			r.orphaned(pa, fmt.Sprintf("Another PartnerAccount holds remote account %q, so nothing was deleted remotely", uid))
			return false, err
		}
	}

	acct, err := s.conn.API.Get(ctx, uid)
	if err != nil {
		// Gone already (no outcome: the resource may go), or the outcome says why not.
		r.absentBeforeDeletion(ctx, s, "read the account before deleting it", err, where)
		return false, nil
	}
	if owns(pa) {
		change := identityChange(&pa.Spec, pa.Status.CreatedAt, acct)
		if !r.answerHolds(ctx, s, acct, where, sameAccount(pa.Status.CreatedAt, acct, change)) {
			s.conclude(deleteBlocked(endpointChangedOutcome("read the account before deleting it", uid, where,
				acct.Origin)))
			return false, nil
		}
		if change != "" {
			r.orphaned(pa, fmt.Sprintf("Remote account %q was replaced outside the operator (it now has %s), "+
				"so nothing was deleted remotely", uid, change))
			return false, nil
		}
		return true, nil
	}
	if !r.answerHolds(ctx, s, acct, where, false) {
		s.conclude(deleteBlocked(endpointChangedOutcome("read the account before deleting it", uid, where, acct.Origin)))
		return false, nil
	}
	claim := onAPIClock(s.conn, currentClaim(&pa.Status, r.Options.Now()))
	if classifyRead(&pa.Spec, claim, acct, r.margins()) != foundOwn {
		r.orphaned(pa, fmt.Sprintf("This resource's create attempts did not make remote account %q, "+
			"so nothing was deleted remotely", uid))
		return false, nil
	}
	return true, nil
}

// orphaned records that the resource went without deleting its remote account,
// and why.
func (r *Reconciler) orphaned(pa *billingv1alpha1.PartnerAccount, why string) {
	r.Recorder.Eventf(pa, nil, corev1.EventTypeNormal, billingv1alpha1.EventOrphaned, "Delete", "%s", why)
}

// alreadyGone records that the resource's remote account was found gone.
func (r *Reconciler) alreadyGone(ctx context.Context, pa *billingv1alpha1.PartnerAccount) {
	uid := pa.Spec.AccountUID
	logf.FromContext(ctx).Info("Remote account already gone", "accountUID", uid)
	r.Recorder.Eventf(pa, nil, corev1.EventTypeNormal, billingv1alpha1.EventDeleted, "Delete",
		"Remote account %q was already gone", uid)
}

// deleteBlocked turns the outcome of a failed call during deletion into one that
// says the finalizer stays, and how to let the resource go anyway.
func deleteBlocked(o outcome) outcome {
	o.message = "Deleting the remote account failed, so the finalizer stays: " + strings.TrimSuffix(o.message, ".")
	if !strings.Contains(o.message, "spec.deletionPolicy") {
		o.message += ". To delete the resource and leave the remote account, set spec.deletionPolicy to Orphan"
	}
	return o
}
