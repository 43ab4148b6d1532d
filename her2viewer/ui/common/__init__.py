"""What every room of the viewer shares and nothing else: the QApplication helpers (`qapp`), the hand-over
from worker threads (`inbox`), a background job with a progress dialog (`jobs`), the score colours
(`colors`) and menu lookup (`menus`). Imports nothing from the other ui subpackages."""
