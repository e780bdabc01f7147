#!/usr/bin/env python3
"""A face-recognition reference on the same pairs as bench/faces_pairs.py: dlib's ResNet face
descriptor (Davis King, public domain / CC0 1.0), shipped on PyPI with its weights inside.

    python3 -m venv /tmp/venv-dlib
    /tmp/venv-dlib/bin/pip install dlib-bin face_recognition_models pillow scikit-learn
    /tmp/venv-dlib/bin/python bench/faces_reference.py --pairs /tmp/faces/pairs.txt

Not a dependency of Lookalike (a separate virtual environment; `face_recognition_models` is a
100 MB download): it shows what a descriptor trained for faces reaches where the default model,
trained for copies, answers no better than "always different" (bench/README.md, issue 16).
Face: dlib's HOG detector, the largest face (else the whole picture), its 5-point alignment.
Score = minus the distance between descriptors; dlib's own rule calls < 0.6 the same person.
"""
import argparse

import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", required=True, help='one "path_a path_b same(1|0)" line per pair')
    args = ap.parse_args()
    import dlib
    import face_recognition_models as frm
    from PIL import Image
    from sklearn.metrics import roc_auc_score

    detect = dlib.get_frontal_face_detector()
    landmarks = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
    describe = dlib.face_recognition_model_v1(frm.face_recognition_model_location())
    vectors = {}

    def vector(path):
        if path not in vectors:
            im = np.asarray(Image.open(path).convert("RGB"))
            found = detect(im, 1)
            box = (max(found, key=lambda r: r.area()) if len(found)
                   else dlib.rectangle(0, 0, im.shape[1] - 1, im.shape[0] - 1))
            vectors[path] = np.asarray(describe.compute_face_descriptor(im, landmarks(im, box)))
        return vectors[path]

    pairs = [line.split() for line in open(args.pairs) if line.strip()]
    same = np.array([int(t) for _, _, t in pairs])
    dist = np.array([np.linalg.norm(vector(a) - vector(b)) for a, b, _ in pairs])
    best = max(((-dist >= t) == same).mean() for t in np.unique(-dist))
    print(f"{len(pairs)} pairs ({same.sum()} same person): AUC {roc_auc_score(same, -dist):.4f}, "
          f"best accuracy {best:.4f}, at dlib's 0.6 {((dist < 0.6) == same).mean():.4f}, "
          f"always \"different\" {1 - same.mean():.4f}")


if __name__ == "__main__":
    main()
