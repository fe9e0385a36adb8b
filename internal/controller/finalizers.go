package controller

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
)

// SetFinalizer puts finalizer on obj (want true) or takes it off, with a merge
// patch that fails if obj changed since it was read. It writes nothing when obj
// already is as wanted; taking it off an object that is gone is no error.
func SetFinalizer(ctx context.Context, c client.Client, obj client.Object, finalizer string, want bool) error {
	if controllerutil.ContainsFinalizer(obj, finalizer) == want {
		return nil
	}
	base := obj.DeepCopyObject().(client.Object)
	if want {
		controllerutil.AddFinalizer(obj, finalizer)
		return c.Patch(ctx, obj, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
	}
	controllerutil.RemoveFinalizer(obj, finalizer)
	return client.IgnoreNotFound(c.Patch(ctx, obj, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})))
}
