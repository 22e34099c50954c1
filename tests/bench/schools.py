"""What generated schools are made of: categories, names, places, roles, and academies.

Students are not part of a policy; their groups follow from their MIS id. Student
``S000001`` is the first of the first academy; each academy has 2,000 students, each in
their academy's group, a year group and a form (``Oakfield Academy``, ``Oakfield Year 9``,
``Oakfield 9B``; a single school's are just ``Year 9`` and ``9B``).
"""

import re
from dataclasses import dataclass

CATEGORIES = (
    "Bullying",
    "Self-harm",
    "Online safety",
    "Attendance",
    "Child-on-child abuse",
    "Domestic abuse",
    "Neglect",
    "Physical abuse",
    "Sexual abuse",
    "Emotional abuse",
    "Radicalisation",
    "Child sexual exploitation",
    "Child criminal exploitation",
    "County lines",
    "FGM",
    "Forced marriage",
    "Mental health",
    "Eating disorder",
    "Substance misuse",
    "Young carer",
    "Looked-after child",
    "Child in need",
    "Child protection plan",
    "Missing from education",
    "Missing from home",
    "Homelessness",
    "Bereavement",
    "Medical needs",
    "SEND",
    "Behaviour",
    "Suspension",
    "Racist incident",
    "Homophobic incident",
    "Transphobic incident",
    "Sexual harassment",
    "Nude image sharing",
    "Gang activity",
    "Knife crime",
    "Parental substance misuse",
    "Parental mental health",
    "Private fostering",
    "Honour-based abuse",
    "Trafficking",
    "Fabricated illness",
    "Anti-social behaviour",
    "Alcohol",
    "Vaping",
    "Prejudice-based bullying",
    "Cyberbullying",
    "Sexual violence",
    "Extremism",
    "Unexplained injury",
    "Disclosure",
    "Early help",
    "Persistent absence",
    "Lateness",
    "Financial hardship",
    "Housing concern",
    "Family breakdown",
    "Anxiety",
    # The largest trust's further categories (120 in all).
    "Grooming",
    "Online grooming",
    "Sexting",
    "Upskirting",
    "Peer-on-peer sexual harassment",
    "Harmful sexual behaviour",
    "Gambling",
    "Drug dealing",
    "Weapons",
    "Fire setting",
    "Suicidal ideation",
    "Self-neglect",
    "Hoarding",
    "Modern slavery",
    "Cuckooing",
    "Serious youth violence",
    "Knife carrying",
    "Hate crime",
    "Disability-related bullying",
    "Sexist incident",
    "Religious bullying",
    "Appearance-based bullying",
    "Online abuse",
    "Image-based abuse",
    "Sextortion",
    "Cyber flashing",
    "Dangerous online challenge",
    "Contact with a stranger",
    "Running away",
    "Children missing in care",
    "Kinship care",
    "Adoption",
    "Special guardianship",
    "Young parent",
    "Teenage pregnancy",
    "Relationship abuse",
    "Coercive control",
    "Parental conflict",
    "Parental imprisonment",
    "Parental learning disability",
    "Domestic violence disclosure",
    "Female genital mutilation risk",
    "Breast ironing",
    "Witchcraft and spirit possession",
    "Faith-based abuse",
    "Child marriage",
    "Unaccompanied asylum seeker",
    "Refugee",
    "Gypsy, Roma and Traveller",
    "Elective home education",
    "Part-time timetable",
    "Alternative provision",
    "Exclusion risk",
    "Police involvement",
    "Youth justice",
    "Anti-bullying referral",
    "Medical absence",
    "Hospital admission",
    "Concussion",
    "Allergy incident",
)
PASTORAL_CATEGORIES = (*CATEGORIES[:5], "Mental health", "Behaviour", "Anxiety", "Bereavement")
FIRST = (
    "Amelia",
    "Oliver",
    "Priya",
    "Mohammed",
    "Grace",
    "Jack",
    "Aisha",
    "Thomas",
    "Sophie",
    "Daniel",
    "Chloe",
    "Samuel",
    "Fatima",
    "James",
    "Emily",
    "Kwame",
    "Hannah",
    "Liam",
    "Zara",
    "Ethan",
    "Olivia",
    "Noah",
    "Isla",
    "Harry",
    "Leah",
    "Yusuf",
    "Megan",
    "Owen",
    "Niamh",
    "Arjun",
    "Ruth",
    "Callum",
    "Bethany",
    "Tomasz",
    "Ellie",
    "Rhys",
    "Abigail",
)
LAST = (
    "Smith",
    "Jones",
    "Williams",
    "Taylor",
    "Brown",
    "Davies",
    "Evans",
    "Wilson",
    "Thomas",
    "Johnson",
    "Roberts",
    "Khan",
    "Patel",
    "Walker",
    "Wright",
    "Robinson",
    "Thompson",
    "White",
    "Hughes",
    "Edwards",
    "Green",
    "Hall",
    "Wood",
    "Harris",
    "Lewis",
    "Martin",
    "Jackson",
    "Clarke",
    "Okafor",
    "Ahmed",
    "Nowak",
    "Murphy",
    "Kaur",
    "Begum",
    "Singh",
)
PLACES = (
    "Oakfield",
    "Riverside",
    "Hillcrest",
    "Meadowbank",
    "Ashgrove",
    "Kingsmead",
    "Elmwood",
    "Northgate",
    "Southfields",
    "Westbrook",
    "Eastleigh",
    "Brookside",
    "Fairview",
    "Highcliffe",
    "Larkhill",
    "Millbrook",
    "Redwood",
    "Stonebridge",
    "Thornbury",
    "Valley",
    "Willowdale",
    "Beechwood",
    "Castlefield",
    "Dovecote",
    "Greenacre",
    "Hawthorn",
    "Ivydene",
    "Juniper",
    # The largest trust's further academies (90 in all).
    "Ambleside",
    "Birchfield",
    "Coldharbour",
    "Deerpark",
    "Eastwood",
    "Foxhill",
    "Glenfield",
    "Harborne",
    "Ingleby",
    "Kelmscott",
    "Langley",
    "Marston",
    "Netherton",
    "Oldbury",
    "Penfold",
    "Queensbury",
    "Rushden",
    "Sandhurst",
    "Tilbury",
    "Upton",
    "Ventnor",
    "Wickham",
    "Yardley",
    "Alderley",
    "Bramhall",
    "Chesterton",
    "Dunmore",
    "Enfield",
    "Fernhill",
    "Grantham",
    "Hartley",
    "Ilkley",
    "Kirkby",
    "Lydford",
    "Morley",
    "Newbold",
    "Ormskirk",
    "Prestwood",
    "Radley",
    "Selby",
    "Thornton",
    "Ulverston",
    "Wetherby",
    "Ashby",
    "Bexley",
    "Crawley",
    "Didcot",
    "Epsom",
    "Frome",
    "Goring",
    "Hexham",
    "Ixworth",
    "Keswick",
    "Ludlow",
    "Malvern",
    "Nailsea",
    "Otley",
    "Padstow",
    "Ripley",
    "Stroud",
    "Tetbury",
    "Wantage",
)
# (user group, category permissions kind, system permissions, share of staff)
ROLES = (
    ("DSL", "all", ["view_student_details", "view_students_list", "admin"], 2),
    ("Deputy DSL", "all", ["view_student_details", "view_students_list"], 3),
    ("Senior Leadership", "all", ["view_student_details", "view_students_list"], 4),
    ("Pastoral", "pastoral", ["view_student_details", "view_students_list"], 8),
    ("Heads of Year", "pastoral", ["view_student_details", "view_students_list"], 6),
    ("SENCo", "some", ["view_student_details", "view_students_list"], 2),
    ("Attendance Officers", "some", ["view_students_list"], 3),
    ("Teaching Staff", "add", [], 45),
    ("Teaching Assistants", "add", [], 15),
    ("Office Staff", "add", [], 6),
)
GROUP_SPECIALISMS = (
    "Mental Health Leads",
    "Online Safety Leads",
    "Prevent Leads",
    "Looked-after Children",
    "Early Help",
    "Inclusion",
    "Family Support",
    "School Nurses",
    "Sixth Form Team",
    "Primary Phase Leads",
    "Behaviour Team",
    "Exams Office",
    "IT Support",
    "Trust Safeguarding",
    "Trust Executive",
    "Data Managers",
    "Careers",
    "Wellbeing Mentors",
    "Learning Mentors",
    "Counsellors",
    "Chaplaincy",
    "Educational Psychologists",
    "Youth Workers",
    "Governors",
    "Cover Supervisors",
    "Site Team",
    "Catering",
    "Library",
    "Music Service",
    "PE Department",
    # The largest trust's further user groups (80 in all).
    "Attendance Team",
    "Safeguarding Administrators",
    "Year 7 Transition",
    "Year 11 Team",
    "Sixth Form Mentors",
    "Alternative Provision",
    "Virtual School",
    "Young Carers Leads",
    "EAL Team",
    "Reading Recovery",
    "Speech and Language",
    "Occupational Therapy",
    "Medical Needs Team",
    "First Aiders",
    "Duty Managers",
    "Trips and Visits",
    "Extended Schools",
    "Breakfast Club",
    "After School Club",
    "Holiday Programme",
    "Student Services",
    "Reception",
    "Finance Office",
    "HR Team",
    "Admissions",
    "Transport",
    "Estates",
    "Compliance",
    "Data Protection",
    "Trust Pastoral Leads",
    "Trust Attendance Leads",
    "Trust SEND Leads",
    "Trust HR",
    "Trust Finance",
    "Trust IT",
    "Regional Directors",
    "Headteachers",
    "Deputy Headteachers",
    "Assistant Headteachers",
    "Subject Leads",
)

STUDENTS_PER_ACADEMY = 2_000
YEARS = tuple(range(7, 14))
FORMS = "ABCDE"
TRUST_WIDE_CATEGORIES = (
    "Radicalisation",
    "Extremism",
    "FGM",
    "Forced marriage",
    "Honour-based abuse",
    "Trafficking",
    "County lines",
    "Child sexual exploitation",
)
"""Categories the trust's central safeguarding team is alerted about in every academy."""


def slug(text: str) -> str:
    """``text`` as a lower-case name for a file, folder or id."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def student_id(number: int) -> str:
    """The MIS id of student ``number`` (1-based, numbered across the trust)."""
    return f"S{number:06d}"


@dataclass(frozen=True)
class Academy:
    """One school of a generated policy: its name, place in the trust and student groups."""

    name: str
    index: int
    in_trust: bool
    """Whether it is one academy of several (its student groups then carry its name)."""
    size: int = STUDENTS_PER_ACADEMY
    """How many students it has."""

    @property
    def place(self) -> str:
        """The academy's short name, e.g. ``Oakfield``."""
        return self.name.split()[0]

    @property
    def folder(self) -> str:
        """Its folder under ``academies/`` (trust scale)."""
        return slug(self.name)

    @property
    def students(self) -> range:
        """Numbers of its students."""
        first = self.index * self.size + 1
        return range(first, first + self.size)

    def year_group(self, year: int) -> str:
        """The student group of a year, e.g. ``Oakfield Year 9`` (``Year 9`` at a school)."""
        return f"{self.place} Year {year}" if self.in_trust else f"Year {year}"

    def form_group(self, year: int, form: str) -> str:
        """The student group of a form, e.g. ``Oakfield 9B`` (``9B`` at a school)."""
        return f"{self.place} {year}{form}" if self.in_trust else f"{year}{form}"

    def groups_of(self, number: int) -> tuple[str, ...]:
        """The student groups of one of its students, sorted."""
        n = number - self.students.start
        year = YEARS[n % len(YEARS)]
        form = FORMS[n // len(YEARS) % len(FORMS)]
        groups = {self.year_group(year), self.form_group(year, form)}
        if self.in_trust:
            groups.add(self.name)
        return tuple(sorted(groups))


def academies_of(count: int, size: int = STUDENTS_PER_ACADEMY) -> list[Academy]:
    """The schools of a generated policy with ``count`` academies (1: a single school) of
    ``size`` students each."""
    if count == 1:
        return [Academy("Oakfield School", 0, in_trust=False, size=size)]
    return [
        Academy(f"{place} Academy", i, in_trust=True, size=size)
        for i, place in enumerate(PLACES[:count])
    ]
