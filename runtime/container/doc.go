// Package container runs containers made from images: the docker-style
// layer that joins the image store (package image) and the OCI runtime
// (package runtime).
//
// The runtime knows only OCI bundles: a directory with config.json and a
// root filesystem. This package makes one per container, under the image
// store:
//
//	STORE/containers/<id>/config.json     the runtime spec, from the image's
//	                                      config and the command line
//	                                      (spec.FromImage)
//	STORE/containers/<id>/container.json  the record: name, image, created
//	STORE/containers/<id>/rootfs/         an empty mount point
//	STORE/containers/<id>/upper/, work/   overlayfs's writable layer
//
// and hands the runtime the image's layer directories as an overlay
// (rootfs.Overlay). The overlay is mounted by the container's init, inside
// its own mount namespace, so no mount of a container ever appears on the
// host, and none outlives it, whatever happens to minirun.
//
// It sits beside runtime, not below it: runtime never learns about images
// or registries, and image never learns about containers, except through
// the InUse callback that keeps rmi from removing an image a container
// uses.
package container
