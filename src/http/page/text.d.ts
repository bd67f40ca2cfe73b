// The page's stylesheet is imported as text (page.ts); TypeScript needs to be told it is a string.
declare module "*.css" {
  const text: string;
  export default text;
}
