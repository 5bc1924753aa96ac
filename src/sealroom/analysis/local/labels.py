"""Field labels of documents ("Patient Name:", "Member ID", "DOB") and the values they introduce.

One table serves both the labelled-value recogniser (value to the right of its label) and the
layout pass of field extraction (value on the row below its label, as on cards and forms).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Value shapes. OCR may read O for 0 and l/I for 1; the validators normalise.
_UP = r"A-ZÀ-ÖØ-ÞĀ-Ž"  # Latin capitals, with diacritics ("Ó Briain", "ÁLVAREZ")
_LET = r"A-Za-zÀ-ÖØ-öø-ÿĀ-ž"
NAME_VALUE = rf"[{_UP}][{_LET}'’`-]*\.?(?:,? (?:[{_UP}][{_LET}'’`-]*\.?))*"
ID_VALUE = r"[A-Za-z0-9][A-Za-z0-9-]{1,24}(?: (?=[A-Za-z-]*\d)[A-Za-z0-9-]{1,12}){0,4}"
DIGITS_VALUE = r"(?=[0-9OolI* -]*(?:\d{3}|\d\d[ -]\d\d[ -]\d\d))[0-9Xx*•][0-9OolIXx*• -]{2,24}[0-9OolI]"
ADDRESS_VALUE = r"\d[^\n]{3,80}?(?=  |\n|$| \()"
DATE_VALUE = (
    r"(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}|\d{8}"
    r"|[A-Za-z]{3,9}\.? \d{1,2},? \d{4}|\d{1,2}[ -][A-Za-z]{3,9}\.?[ -]\d{2,4})"
    r"(?: \d{1,2}:\d{2}(?::\d{2})?(?: ?[AaPp]\.?[Mm]\.?)?)?"
)
FREE_VALUE = r"[^\s][^\n]{0,60}?(?=  |\n|$)"


@dataclass(frozen=True)
class FieldLabel:
    """A label, the canonical field name it stands for, the entity type and shape of its value."""

    name: str
    pattern: str
    entity_type: str | None
    value: str
    single_word_ok: bool = False


def _l(name: str, pattern: str, entity: str | None, value: str, single: bool = False) -> FieldLabel:
    return FieldLabel(name, pattern, entity, value, single)


LABELS: tuple[FieldLabel, ...] = (
    # people
    _l("Patient Name", r"Patient(?:'s)? Name|Patient|Pt\.? Name", "PERSON", NAME_VALUE),
    _l("Member Name", r"Member Name|Member|Subscriber(?: Name)?|Insured(?: Name)?|Enrollee", "PERSON",
       NAME_VALUE),
    _l("Account Holder", r"Account ?Holder(?: Name)?|Account Name|Customer(?: Name)?|Client(?: Name)?"
       r"|Card ?holder(?: Name)?|Name on (?:Card|Account)", "PERSON", NAME_VALUE),
    _l("Payee", r"Pay to the order of|Pay to the|Order of|Payee(?: Name)?|Beneficiary(?: Name)?|Remitter"
       r"|Payer(?: Name)?", "PERSON", NAME_VALUE),
    _l("Physician", r"(?:Ordering|Referring|Attending|Admitting|Treating|Primary Care|Consulting) "
       r"(?:Physician|Provider|Doctor|Clinician)|Attending|Physician|Provider(?: Name)?|Surgeon"
       r"|Radiologist|Pathologist|Clinician|Nurse|Referred by|PCP Name", "PERSON", NAME_VALUE),
    _l("Signed By", r"(?:Electronically )?(?:Signed|Verified|Reviewed|Approved|Prepared|Dictated|Collected"
       r"|Transcribed|Witnessed|Certified|Released|Ordered|Performed|Interpreted|Read|Requested|Co-?signed"
       r"|Entered|Recorded|Seen|Examined|Treated|Authori[sz]ed|Referred|Notari[sz]ed|Sworn) by",
       "PERSON", NAME_VALUE),
    _l("Printed Name", r"Printed Name|Print Name|Name of (?:Patient|Insured|Tenant|Borrower|Applicant"
       r"|Employee|Account Holder|Deceased|Child|Parent)|Name \(Last, First\)|Prescriber|Pharmacist|Dentist"
       r"|Therapist|Recipient|Resident|Authori[sz]ed Signer|Signer|Attn\.?|Dear", "PERSON", NAME_VALUE),
    _l("Party", r"Tenant|Landlord|Lessor|Lessee|Borrower|Co-?Borrower|Lender|Buyer|Seller|Purchaser"
       r"|Witness|Notary(?: Public)?|Guarantor|Employee(?: Name)?|Employer Contact|Applicant|Claimant"
       r"|Defendant|Plaintiff|Petitioner|Respondent|Attorney|Counsel|Grantor|Grantee|Trustee|Executor"
       r"|Guardian|Parent|Spouse|Dependent|Emergency Contact|Next of Kin|Contact Person|Caregiver"
       r"|Technologist|Owner|Holder|Insured Person|Policyholder|Party", "PERSON", NAME_VALUE),
    _l("Last Name", r"Last Name|Surname|Family Name|LN", "PERSON", NAME_VALUE, True),
    _l("First Name", r"First Name|Given Names?|Forenames?|Middle Name|FN", "PERSON", NAME_VALUE, True),
    _l("Name", r"Full Name|Legal Name|Name", "PERSON", NAME_VALUE),
    # dates
    _l("Date of Birth", r"Date of Birth|Birth ?Date|D\.?O\.?B\.?|Born", "DATE_OF_BIRTH", DATE_VALUE),
    _l("Admission Date", r"Admission Date|Admitted|Date Admitted|Admit Date", "DATE", DATE_VALUE),
    _l("Discharge Date", r"Discharge Date|Discharged|Date Discharged", "DATE", DATE_VALUE),
    _l("Service Date", r"(?:Service|Visit|Encounter|Procedure|Exam|Study|Test|Collection|Specimen) Date"
       r"|Date of (?:Service|Visit|Exam|Study|Procedure|Collection|Admission|Discharge|Death)"
       r"|Collected|Received|Reported|Resulted|DOS", "DATE", DATE_VALUE),
    _l("Date", r"Effective(?: Date)?|Issued?(?: Date)?|ISS|Expir(?:es|y|ation)(?: Date)?|EXP|Date", None,
       DATE_VALUE),
    # identifiers
    _l("MRN", r"MRN|M\.R\.N\.?|MR ?(?:#|No\.?|Number)|Med\.? Rec(?:ord)?\.?(?: Number| No\.?| #)?"
       r"|Medical Record(?: Number| No\.?| #)?|Patient (?:ID|No\.?|Number|#)|Chart(?: No\.?| #| Number)"
       r"|Hospital (?:No\.?|Number|#|ID)|Unit (?:No\.?|Number)|Record (?:No\.?|Number|#)",
       "MRN", ID_VALUE),
    _l("Member ID", r"Member ID|Member (?:No\.?|Number|#)|Subscriber ID|Subscriber (?:No\.?|#)|Policy "
       r"(?:No\.?|Number|#|ID)|Insurance ID|Medicaid (?:ID|No\.?)|Medicare (?:ID|No\.?|Number)|MBI"
       r"|Health Plan ID|Plan ID|Beneficiary ID", "HEALTH_PLAN_ID", ID_VALUE),
    _l("NPI", r"NPI(?: No\.?| #| Number)?", "NPI", DIGITS_VALUE),
    _l("SSN", r"SSN|Social Security(?: No\.?| Number| #)?|SS ?#", "SSN", DIGITS_VALUE),
    _l("Routing Number", r"Routing(?: Number| No\.?| #)?|ABA(?: Number| No\.?| #)?|RTN|Transit(?: No\.?)?"
       r"|Sort Code", "ROUTING_NUMBER", DIGITS_VALUE),
    _l("Account Number", r"Account(?: Number| No\.?| #)?|Acct\.?(?: Number| No\.?| #)?|A/C(?: No\.?)?",
       "BANK_ACCOUNT", DIGITS_VALUE),
    _l("IBAN", r"IBAN(?: No\.?| Number)?", "IBAN", r"[A-Z]{2} ?\d{2}(?: ?[A-Z0-9]{2,4}){2,8}"),
    _l("Card Number", r"Card (?:No\.?|Number|#)", "CREDIT_CARD", DIGITS_VALUE),
    _l("ID Number", r"DLN?(?: No\.?| #| Number)?|Driver'?s? Licen[cs]e(?: No\.?| Number| #)?"
       r"|Licen[cs]e(?: No\.?| Number| #)"
       r"|Passport(?: No\.?| Number| #)?|ID (?:No\.?|Number|#)|Document (?:No\.?|Number)|Accession"
       r"(?: No\.?| Number| #)?|Commission(?: No\.?| Number| #)|Case (?:No\.?|Number|#)|Employee ID"
       r"|Encounter(?: No\.?| #| ID)?|Visit (?:No\.?|#|ID)|Study ID|Claim (?:No\.?|Number|#)|Customer ID"
       r"|Student ID|Badge (?:No\.?|#)|Permit (?:No\.?|#)|Registration (?:No\.?|#)|NHS (?:No\.?|Number)"
       r"|National Insurance(?: No\.?| Number)?|NI (?:No\.?|Number)|Specimen (?:ID|No\.?|#)"
       r"|Order (?:No\.?|#|ID)|Requisition(?: No\.?| #)?|Certificate (?:No\.?|#)|Tax ID|TIN|EIN"
       r"|(?<!Group )(?<!GRP )(?<!Payer )(?<!Plan )(?<!Rx )(?<!Group)ID(?: No\.?| #)?", "ID_NUMBER",
       ID_VALUE),
    _l("Address", r"(?:Home |Mailing |Street |Residential |Billing |Patient )?Address|Residing at"
       r"|Resides at|Located at", "ADDRESS", ADDRESS_VALUE),
    _l("Phone", r"(?:Home |Cell |Mobile |Work |Daytime )?(?:Phone|Tel\.?|Telephone)(?: No\.?| #)?",
       "PHONE", r"[+(0-9](?:[0-9()+.-]| (?=[(0-9])){6,20}[0-9]"),
    _l("Email", r"E-?mail(?: Address)?", "EMAIL", r"[^\s@]+@[^\s@]+\.[A-Za-z]{2,}"),
    _l("Group Number", r"Group (?:No\.?|Number|#|ID)|GRP", None, ID_VALUE),
    _l("Sex", r"Sex|Gender", None, r"(?:M|F|X|Male|Female|Other)\b"),
)


def label_regex(label: FieldLabel) -> re.Pattern[str]:
    """``label`` at a word start, then optional ``:``/``#``; group ``colon`` is set when present."""
    return re.compile(
        r"(?<![A-Za-z0-9])(?:" + label.pattern + r")"
        r"(?:(?P<colon>\s?#\s?:|\s?[:#.]|\s?No\.?:)|(?<=[#.])|(?![A-Za-z0-9]))",
        re.IGNORECASE,
    )


def value_regex(label: FieldLabel) -> re.Pattern[str]:
    flags = 0 if label.entity_type == "PERSON" else re.IGNORECASE
    return re.compile(label.value, flags)


COMPILED: tuple[tuple[FieldLabel, re.Pattern[str], re.Pattern[str]], ...] = tuple(
    (lab, label_regex(lab), value_regex(lab)) for lab in LABELS
)


def label_match_ok(m: re.Match[str]) -> bool:
    """Short labels ("DL", "LN", "ID") count only in capitals, or title case with a colon (not "mg/dL")."""
    core = re.sub(r"[^A-Za-z]", "", m.group(0))
    if len(core) > 3 or core.isupper():
        return True
    return core.istitle() and bool(m.group("colon")) and ":" in m.group("colon")


def open_label(m: re.Match[str]) -> bool:
    """A label that announces its value (``MRN:``, ``Pay to the order of``) may sit a column away."""
    return bool(m.group("colon")) or m.group(0).lower().endswith((" of", " by", " to", " at", "#", "."))

