package image

import (
	"fmt"

	"github.com/minirun/minirun/image/archive"
	"github.com/minirun/minirun/internal/explain"
)

// explainLayer tells what ingestLayer did with one layer: the blob
// fetched (pull), its tar applied in overlayfs's form (unpack), from the
// counts the unpacker itself kept. The blob streams into the unpacker, so
// with a registry the two overlap, and the unpack step carries the time
// of both.
func (s *Store) explainLayer(l layerSource, fetched, unpacked bool, st archive.Stats) {
	if unpacked {
		s.Explain.Step(explain.Step{
			Phase: explain.PhaseUnpack,
			Text: fmt.Sprintf("layer %s (%d bytes): %d entries, %d whiteouts made overlayfs whiteouts (0/0 char devices, trusted.overlay.opaque), %d bytes written",
				l.desc.Digest, l.desc.Size, st.Entries, st.Whiteouts, st.Bytes),
			Man: "OCI image-spec layer.md (whiteouts), Documentation/filesystems/overlayfs.rst",
			Fields: map[string]any{"op": "unpack", "digest": l.desc.Digest.String(), "diffID": l.diffID.String(),
				"size": l.desc.Size, "entries": st.Entries, "whiteouts": st.Whiteouts, "bytes": st.Bytes},
		})
	}
	if fetched {
		s.Explain.Step(explain.Step{
			Phase:  explain.PhasePull,
			Text:   fmt.Sprintf("blob %s: %d bytes, digest verified", l.desc.Digest, l.desc.Size),
			Man:    "OCI image-spec descriptor.md (digests)",
			Fields: map[string]any{"op": "blob", "digest": l.desc.Digest.String(), "size": l.desc.Size},
		})
	}
}
