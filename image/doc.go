// Package image pulls container images from registries and keeps them in
// a content-addressed store, with each layer unpacked once, ready to be
// stacked by overlayfs.
//
// # What an image is
//
// An image is a tree of JSON documents named by their SHA-256 digests
// (the OCI image spec, https://github.com/opencontainers/image-spec):
//
//	index (optional)  one manifest per platform: linux/amd64, linux/arm64/v8, ...
//	└─ manifest       the config's digest, and the layers' digests, bottom first
//	   ├─ config      Entrypoint, Cmd, Env, User, ... and rootfs.diff_ids:
//	   │              the digest of each layer *uncompressed*
//	   └─ layers      tar archives (gzip, zstd or plain) of the files each
//	                  layer adds, changes or deletes
//
// Because every reference is a digest, checking the bytes against the name
// they were asked for proves that nothing was corrupted or replaced on the
// way: a registry, a proxy or a disk can only fail, never lie. The store
// checks every blob it writes: a layer's compressed bytes against the
// manifest's digest, and its uncompressed tar against the config's diff ID.
//
// # Pulling
//
// The registry speaks the OCI distribution API over HTTP
// (https://github.com/opencontainers/distribution-spec), here through
// go-containerregistry's remote package: GET /v2/ discovers how to
// authenticate (a 401 with WWW-Authenticate: Bearer realm=... sends the
// client to a token service, as Docker Hub does; Basic means a password
// with every request), HEAD and GET /v2/<name>/manifests/<tag> return the
// manifest, GET /v2/<name>/blobs/<digest> a blob. Pull sends a HEAD first:
// if the digest it answers is the one the store holds, nothing else is
// asked (Docker Hub counts manifest GETs against its rate limit, not
// HEADs). Layers download in parallel, and each flows once from the
// network through both digest checks into archive.Apply: there is no
// second pass over a temporary file.
//
// # The store
//
// The store is an OCI image layout (index.json, oci-layout, blobs/sha256/),
// so other tools can read it: skopeo inspect oci:/var/lib/minirun:NAME.
// Next to it, layers/sha256/<diff ID>/fs holds each layer unpacked in
// overlayfs's form (see package archive), shared by every image that has
// the layer. Nothing appears under its final name before it is complete:
// blobs and layer directories are written in tmp/ and moved into place
// with rename(2), which is atomic within a filesystem, and only once every
// layer of the image has arrived and checked out (a pull that fails on its
// last layer adds nothing); a layer directory's "complete" marker is
// written before that rename, and the image's name in index.json, last of
// all. A pull that fails or is killed leaves
// only a directory in tmp/, removed by the next operation that finds its
// lock free. Concurrency is handled with locks on one file (flock(2) and
// fcntl(2) open file description locks; see lock_linux.go), so two pulls
// of the same image download each layer once.
//
// # Hostile images
//
// A registry is trusted for nothing, not even to stop talking. Before
// anything an image names is fetched, its declarations are checked
// (limits.go): at most 500 layers (overlayfs's OVL_MAX_STACK: an image
// with more could never run), sha256 digests only (the store's layout is
// sha256's; sha512 and unknown algorithms are refused, not half-stored),
// a config of at most 8 MiB, and one level of index (an index inside an
// index is refused, so no chain of them is followed). While bytes arrive,
// a manifest is cut at 4 MiB (what the distribution spec has registries
// accept), a config or layer at the size its descriptor gives plus the
// one byte that proves the server sent too much, and a blob download that
// waits a minute for its next byte fails. So a pull of a hostile image
// costs a few MiB of memory and at most the declared size of its layers
// on disk, in tmp/, and then fails with one line naming the problem,
// leaving the store as it was.
//
// Man pages: rename(2), flock(2), fcntl(2) (F_OFD_SETLKW), overlayfs
// (Documentation/filesystems/overlayfs.rst in the kernel).
package image
