"""The OCR engine's reader modes (kept apart so the config imports no models)."""

READERS = ('auto', 'chain', 'plate', 'general', 'trained')
READER_HELP = ("which reader: auto = the plate model when installed, checked by the general OCR when unsure "
               "(else the general OCR alone, said once in the log); chain = the same, but the plate model must "
               "be installed; plate = the plate model alone; general = the general OCR (backend) alone; "
               "trained = the project's own plate reader (tools/train_reader; weights in lpr_ocr/weights) alone")
