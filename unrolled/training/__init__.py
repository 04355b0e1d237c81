"""Training LRRNet (``llrr train``): the run's configuration (:mod:`.config`), the image pairs and samplers
(:mod:`.data`), the loss of Eq. 10-14 (:mod:`.losses`) and its cache of source features (:mod:`.feature_cache`),
the initialisation from Algorithm 1 (:mod:`.init`), validation and checkpoint selection (:mod:`.validation`), the
log (:mod:`.log`) and the loop (:mod:`.loop`). Nothing is imported here: each module loads what it needs."""
