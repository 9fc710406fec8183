"""soak_common.py - what the parts of soak.py share: the domains and
addresses of the test, and how an enhanced status code looks."""

import re

LOCAL = "chu-test.mssante.fr"
LOCAL2 = "autre-site.chu-test.mssante.fr"
PEERS = ["medecin.mssante.fr", "chu-lille.mssante.fr", "pharmacien.mssante.fr",
         "interop-mssante.apicrypt.org", "mssante.apicrypt.org"]
# Not MSSante: ordinary mail services and the lookalikes of MSSANTE.md 1.
CLASSIC = ["outlook.fr", "gmail.com", "laposte.net", "evilmssante.fr",
           "chu-lille.mssante.fr.example.com", "interop-mssante.apycrypt.org",
           "apicrypt.org", "mssante.fr"]
PATIENTS = "patient.mssante.fr"
PHARMACY = "pharmacie@" + LOCAL
NOTICE_SENDER = "no-reply@" + LOCAL
HELO = "client.soak.invalid"
FWD_MAILBOXES = 4          # per forwarding kind

ENH = re.compile(r"^([245]\.\d{1,3}\.\d{1,3})\b")


def split_list(text):
    """A comma-separated option: its entries."""
    return [x for x in str(text).split(",") if x != ""]
